"""Smoke test of the Python client that swagger-codegen generates from openapi/openapi.json.

Run by test/python-client.e2e-spec.ts with the generated package on PYTHONPATH, against a running
server: ITEMS_URL and ITEMS_API_KEY say where and with which key.
"""
import json
import os

import items_client
from items_client.rest import ApiException

configuration = items_client.Configuration()
configuration.host = os.environ["ITEMS_URL"]
# swagger-codegen 3.0.34's Python generator ignores `http` bearer schemes (its auth_settings() is
# empty), so the key goes in as a default header, as a user of the generated client would do.
client = items_client.ApiClient(
    configuration, header_name="Authorization", header_value="Bearer " + os.environ["ITEMS_API_KEY"]
)
items = items_client.ItemsApi(client)

created = items.create_item(items_client.NewItem(id="py-1", name="From Python"))
assert created.id == "py-1" and created.name == "From Python" and created.version == 1, created

fetched = items.get_item("py-1")
assert fetched.to_dict() == created.to_dict(), (fetched, created)

items.create_item(items_client.NewItem(name="Second"))
page = items.list_items(limit=1)
assert len(page.items) == 1 and page.items[0].id == "py-1" and page.next_cursor, page
# The last page's next_cursor is null, and required: swagger-codegen 3.0.34's Python models ignore
# `nullable` and raise on None in a required field, so a Python user reads the last page as JSON.
raw = items.list_items(limit=10, cursor=page.next_cursor, _preload_content=False)
rest = json.loads(raw.data)
assert [item["name"] for item in rest["items"]] == ["Second"] and rest["next_cursor"] is None, rest

try:
    items.get_item("missing")
    raise AssertionError("expected a 404")
except ApiException as error:
    problem = json.loads(error.body)
    assert error.status == 404 and problem["code"] == "ITEM_NOT_FOUND", (error.status, problem)

print("python client: create, get, list, 404: ok")
