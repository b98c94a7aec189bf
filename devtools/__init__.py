"""Developer tooling: the embedded stack, the simulator, the bench, demo data, `lookout run`.

Never imported by production code (the import contract in `.importlinter` checks it); its
commands reach `lookout` as plugins (entry-point group `lookout.commands`).
"""
