"""Services: the MnS semantics over the store, free of HTTP."""
