"""The intelligent contact manager: ring a known caller's responsible employee first.

`manager.ContactManager` asks sources in a configured order — our own call history
(`history.HistoryStore`) and CRM connectors (`connectors/`: amoCRM, Bitrix24, Megaplan, a generic
webhook) backed by a durable ownership cache (`cache.OwnerCache`) — under one hard time budget,
and answers with targets plus `then=continue_route`: when the manager does not take the call, the
route goes on (group, queue, voicemail) and the call is never lost.
"""
