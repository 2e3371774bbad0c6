"""SLOs and error budgets on the switch's own signals (README: SLOs).

`spec` the config and its checks, `sli` what each SLI kind counts from a Snapshot, `history`
bounded buckets over a window, `store` their persistence, `policy` thresholds and burn
alerts, `actions` what a fired policy does, `engine` the loop that ties them, `rules` the same
SLOs as Prometheus rules and a Sloth spec, `cli` the `slo` and `show slo` verbs.
"""
