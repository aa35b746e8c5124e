"""The operator page, /ops: sync health at a glance and the fixes one click away.

Off (404) unless OPS_PASSWORD_HASH (or, in development, OPS_PASSWORD) is set.
Server-rendered with Jinja2; the charts are inline SVG drawn here; the page
reads without JavaScript. Modules: `routes` (the WSGI app and the buttons),
`access` (password, session cookie, CSRF), `health` (the red/amber/green
verdict), `chart` (SVG), `present` (wording), `templates/`.
"""

from qbwc_bridge.ops.routes import OpsApp, build_ops_app

__all__ = ["OpsApp", "build_ops_app"]
