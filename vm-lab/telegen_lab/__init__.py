"""telegen-sonic's docker-free lab: a virtual SONiC switch in network namespaces (a real
redis-server laid out like SONiC's, a state daemon, a traffic generator crafting frames with
scapy). Its own distribution (telegen-sonic-lab), not part of the agent's wheel; the
`telegen-sonic lab ...` verbs dispatch here."""
