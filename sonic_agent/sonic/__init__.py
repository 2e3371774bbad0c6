"""SONiC state: database discovery (dbconfig), CONFIG_DB encoding (encoding), and the live typed
model of the switch (model.SwitchModel; its docstring lists the public API)."""
