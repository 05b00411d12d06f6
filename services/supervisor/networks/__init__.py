"""Networks, owned by the supervisor (DESIGN.md, Networking): address management (ipam),
and to come with issue 11, their records, bridges, endpoints, ports and names."""
