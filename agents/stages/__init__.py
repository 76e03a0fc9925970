"""The worker's stages as plain classes: each `handle` takes a batch and returns an `Outcome`.

No Faust here: agents/app.py binds them to topics, agents/publisher.py publishes
what they return, and tests drive them with plain records (agents/local_run.py).
"""
