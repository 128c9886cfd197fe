"""``reconciler`` (PyPI), unchanged, reconciling a DataFrame column of company names against a
running registry's /reconcile. Run by tests/service/test_screening_clients.py in
.venv-clients: ``python reconcile_frame.py RECONCILE_URL NAME...``. Prints the result frame as
JSON records."""

from __future__ import annotations

import sys

import pandas as pd
from reconciler import reconcile

frame = pd.DataFrame({"company": sys.argv[2:]})
result = reconcile(frame["company"], type_id="Organization", reconciliation_endpoint=sys.argv[1])
print(result.to_json(orient="records", force_ascii=False))
