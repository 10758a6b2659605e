import numpy as np
import pandas as pd
import pytest

from flsim.analysis import auc_table, layer_summary, roc_auc


def test_roc_auc():
    assert roc_auc([3, 2, 1, 0], [True, True, False, False]) == 1.0
    assert roc_auc([0, 1, 2, 3], [True, True, False, False]) == 0.0
    assert roc_auc([1, 1, 1, 1], [True, False, True, False]) == 0.5
    assert roc_auc([3, 1, 2, 0], [True, True, False, False]) == 0.75
    assert np.isnan(roc_auc([1, 2], [False, False]))


def test_layer_summary_and_auc_table():
    rows = []
    for round_ in (1, 2):
        for client in range(3):
            malicious = client == 0
            rows.append(dict(round=round_, client=client, malicious=malicious, layer="fc2.bias",
                             max_abs_deviation=4.0 if malicious else 1.0 + client, l2_deviation=1.0,
                             cosine_to_mean=0.1 if malicious else 0.9))
            rows.append(dict(round=round_, client=client, malicious=malicious, layer="fc1.weight",
                             max_abs_deviation=1.0, l2_deviation=1.0, cosine_to_mean=0.5))
    summary = layer_summary(pd.DataFrame(rows)).set_index("layer")
    assert summary.loc["fc2.bias", "ratio"] == pytest.approx(4 / 2.5)
    assert summary.loc["fc2.bias", "auc"] == 1.0 and summary.loc["fc2.bias", "top_rate"] == 1.0
    assert summary.loc["fc1.weight", "auc"] == 0.5
    table = auc_table(pd.DataFrame(rows))
    assert table.loc["fc2.bias", "cosine_to_mean"] == 1.0  # low cosine is the anomaly
    assert list(table.index) == ["fc2.bias", "fc1.weight"]
