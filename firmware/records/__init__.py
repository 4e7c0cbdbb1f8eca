"""Call records: the CDR builder (`cdr`), the facts it needs beyond the call events (`facts`),
pricing (`tariff`), durable SQLite storage (`store`), reports and CSV (`reports`) and the
`switchbox report` command (`report_cli`)."""
