"""process_data: select, filter, sort, fields, limit, and conversions."""

from __future__ import annotations

import json

import pytest

from tests.toolbox.conftest import call, make_ctx

pytestmark = pytest.mark.django_db(transaction=True)

DATA = json.dumps({"items": [{"name": "b", "n": 2, "tag": "x"}, {"name": "a", "n": 5, "tag": "y"}, {"name": "c", "n": 1, "tag": "x"}]})


async def test_select_filter_sort_and_fields_give_compact_json() -> None:
    ctx = await make_ctx()

    _, result = await call(
        "process_data",
        {
            "data": DATA,
            "select": "items",
            "filter": {"field": "tag", "op": "eq", "value": "x"},
            "sort_by": "n",
            "fields": ["name"],
            "indent": None,
        },
        ctx,
    )

    assert result == {"output": '[{"name": "c"}, {"name": "b"}]', "format": "json", "count": 2}


async def test_a_wildcard_path_maps_over_a_list() -> None:
    ctx = await make_ctx()

    _, result = await call("process_data", {"data": DATA, "select": "items[*].name", "indent": None}, ctx)

    assert result["output"] == '["b", "a", "c"]'


async def test_json_converts_to_csv_and_markdown() -> None:
    ctx = await make_ctx()
    base = {"data": DATA, "select": "items", "sort_by": "n", "descending": True, "limit": 2}

    _, as_csv = await call("process_data", {**base, "output_format": "csv"}, ctx)
    _, as_markdown = await call("process_data", {**base, "output_format": "markdown"}, ctx)

    assert as_csv["output"] == "name,n,tag\na,5,y\nb,2,x\n"
    assert as_markdown["output"] == "| name | n | tag |\n| --- | --- | --- |\n| a | 5 | y |\n| b | 2 | x |"


async def test_csv_input_is_parsed_into_objects() -> None:
    ctx = await make_ctx()

    _, result = await call(
        "process_data",
        {"data": "city,pop\nLyon,5\nParis,20\n", "input_format": "csv", "filter": {"field": "city", "op": "contains", "value": "ar"}},
        ctx,
    )

    assert json.loads(result["output"]) == [{"city": "Paris", "pop": "20"}]


async def test_invalid_json_is_a_failed_result_with_the_position() -> None:
    ctx = await make_ctx()

    outcome, result = await call("process_data", {"data": '{"a": }'}, ctx)

    assert outcome.success is False
    assert result == {"error": "The data is not valid JSON: Expecting value at line 1, column 7."}
