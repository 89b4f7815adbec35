"""What crosses between the parties: the protocol they agree on (ids, tokens, the one table of
errors to HTTP statuses), how services refuse, signed messages and the owner's PKI, model
packages, and the HTTP clients of the cloud and of the key service.

Nothing is imported here: each party loads only the modules it uses (`hedge.wire.refusals`
needs FastAPI, the services' extra; the clients need only the base install).
"""
