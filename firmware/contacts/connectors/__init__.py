"""CRM connectors behind one interface (`base.Connector`): amoCRM, Bitrix24, Megaplan, webhook."""
