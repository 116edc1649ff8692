"""The routing catalog: where each sandbox can be reached, shared by API and proxy.

The API publishes a route when a sandbox is created, resumed or adopted, marks it paused when
the sandbox is paused (so the proxy can wake it), and withdraws it when the sandbox is killed;
the proxy only reads. In-memory inside one process (`corral
up`), Redis when the API and proxies are separate processes.
"""
