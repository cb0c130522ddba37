"""Business actions on the store: load, ask domain/, save, journal.

Each action takes an open Session (one unit of work) and identifiers or command models;
the dossier loader and the Prefect tasks call the same functions, so a history event in a
dossier and a flow run from the UI go through exactly the same rules.
"""
