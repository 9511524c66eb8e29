from datacompact.store._bulk import insert_rows, placeholders

__all__ = ["insert_rows", "placeholders"]
