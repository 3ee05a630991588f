"""The engine: models, decoding, catalog, vector index, indexer, search. No Qt here."""
