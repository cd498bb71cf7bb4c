"""The stored schema is a contract between sweeps/ (writer) and analysis/ (reader).

The analysis tests build made-up datasets from their own copy of the schema; this checks that
the copy is the schema that ``lola-arena sweep`` really writes (``game`` is the partition).
"""

import pyarrow as pa
from analysis_data import CURVE_SCHEMA, MATCH_SCHEMA

from sweeps import store


def without_partition(schema: pa.Schema) -> pa.Schema:
    return schema.remove(schema.get_field_index("game"))


def test_analysis_test_data_uses_the_stored_matches_schema():
    assert without_partition(MATCH_SCHEMA).equals(store.MATCHES_SCHEMA)


def test_analysis_test_data_uses_the_stored_curves_schema():
    assert without_partition(CURVE_SCHEMA).equals(store.CURVES_SCHEMA)
