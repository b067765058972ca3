import numpy as np
import pytest

import fastrec


def test_rmse_and_mae_values():
    pred, truth = np.array([1.0, 2.0, 4.0]), np.array([1.0, 4.0, 3.0])
    assert fastrec.rmse(pred, truth) == pytest.approx(np.sqrt(5 / 3))
    assert fastrec.mae(pred, truth) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [fastrec.rmse, fastrec.mae])
def test_length_mismatch_is_refused(metric):
    with pytest.raises(ValueError, match="same length"):
        metric([1.0, 2.0], [1.0])


@pytest.mark.parametrize("metric", [fastrec.rmse, fastrec.mae])
@pytest.mark.parametrize("where", ["pred", "truth"])
def test_nan_is_refused(metric, where):
    good, bad = [1.0, 2.0, 3.0], [1.0, np.nan, 3.0]
    args = (bad, good) if where == "pred" else (good, bad)
    with pytest.raises(ValueError, match=rf"{where} has 1 NaN.*position 1"):
        metric(*args)


def test_empty_is_refused():
    with pytest.raises(ValueError, match="empty"):
        fastrec.rmse([], [])
