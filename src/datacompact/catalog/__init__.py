"""Catalog: data resources, registration codes, grading, data standards, exports and search.

Database-free building blocks, called by the catalog services:

* :mod:`~datacompact.catalog.codes`: registration codes (GB/T 2260 region +
  USCC organization code + sequence + ISO 7064 MOD 37-36 check character);
* :mod:`~datacompact.catalog.grading`: classification and grading per
  GB/T 43697-2024, personal information per PIPL art. 4 and 28;
* :mod:`~datacompact.catalog.standards`: data standards (GB/T 2261.1, GB/T 2260,
  GB/T 4754, GB 11643, GB/T 7408), conformance and derivation in DuckDB;
* :mod:`~datacompact.catalog.dcat`: DCAT-AP 3.0.1 export (Turtle, JSON-LD);
* :mod:`~datacompact.catalog.lineage`: OpenLineage 2-0-2 run events;
* :mod:`~datacompact.catalog.search`: zh/en terms (jieba) and BM25 ranking.
"""
