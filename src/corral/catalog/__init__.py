"""The routing catalog: where each running sandbox can be reached, shared by API and proxy.

The API publishes a route when a sandbox is created, resumed or adopted, and withdraws it when
the sandbox is killed or paused; the proxy only reads. In-memory inside one process (`corral
up`), Redis when the API and proxies are separate processes.
"""
