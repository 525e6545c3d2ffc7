"""In-memory fakes of the ports in bot/services/ports.py, with behaviour: conditional saves, the outbox,
DRS jobs that run on the fake clock, Slack messages in threads. For the fast service tier
(tests/unit/services/); the adapters themselves are tested against moto, the DRS emulator and the fake
Slack (tests/integration/)."""
