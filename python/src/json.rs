//! serde_json values as Python objects (through the standard `json` module).

use pyo3::prelude::*;

/// `value` as the object `json.loads` makes of it (`None` for null).
pub(crate) fn to_python<'py>(
    py: Python<'py>,
    value: &serde_json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    if value.is_null() {
        return Ok(py.None().into_bound(py));
    }
    py.import("json")?
        .call_method1("loads", (value.to_string(),))
}
