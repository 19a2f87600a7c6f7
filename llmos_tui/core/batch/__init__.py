"""Batches: many goals, each run in a workspace of its own, by a pool of workers (docs/design.md §14).

    goals.py      the goals file (YAML list or JSON Lines), checked, errors naming file:line
    journal.py    batch.jsonl: which goals are queued, running, done, failed, waiting, paused
    folders.py    the batch folder: the project's template, each goal's folder made whole or not at all
    scheduler.py  the coordinator: dispatch, cost budget, waiting goals, progress
    worker.py     the worker: many runs interleaved on one event loop (a local process or a Ray actor)
    pool.py       workers as local processes
    ratelimit.py  the shared rate gate: one backoff and one limit on model calls for every worker
    ray_glue.py   workers as Ray actors, the gate as a Ray actor, goal folders shipped as tar
    export.py     every goal's runs as one source for `llmos-tui export --batch`

Nothing here is imported until a batch is run (the faces import the modules they need).
"""
