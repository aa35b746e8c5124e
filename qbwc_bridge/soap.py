"""The SOAP face of the bridge: QBWC's eight methods, as QBWC names them.

Spyne maps each call onto the sync step (`qbwc_bridge.sync.SyncService`) and
back. Names here are binding: QBWC builds its calls from Intuit's WSDL, so
parameter names, the `<method>Result` element names, `int` for the versions
and for receiveResponseXML's percent, and `string` items inside
authenticateResult must match it exactly.
"""

from __future__ import annotations

from typing import Any

from spyne import Application, Array, Integer32, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from qbwc_bridge.sync import SyncService

NAMESPACE = "http://developer.intuit.com/"
SERVICE_NAME = "QBWebConnectorSvc"


def _sync(ctx: Any) -> SyncService:
    sync: SyncService = ctx.app.sync
    return sync


class QBWebConnectorSvc(ServiceBase):
    """One method per QBWC call; each only translates, the work is in SyncService."""

    @rpc(_returns=Unicode, _out_variable_name="serverVersionResult")
    def serverVersion(ctx: Any) -> str:
        return _sync(ctx).server_version()

    @rpc(Unicode, _returns=Unicode, _out_variable_name="clientVersionResult")
    def clientVersion(ctx: Any, strVersion: str | None) -> str:
        return _sync(ctx).client_version(strVersion)

    @rpc(
        Unicode,
        Unicode,
        _returns=Array(Unicode),
        _out_variable_name="authenticateResult",
    )
    def authenticate(ctx: Any, strUserName: str | None, strPassword: str | None) -> list[str]:
        return _sync(ctx).authenticate(strUserName or "", strPassword or "")

    @rpc(
        Unicode,
        Unicode,
        Unicode,
        Unicode,
        Integer32,
        Integer32,
        _returns=Unicode,
        _out_variable_name="sendRequestXMLResult",
    )
    def sendRequestXML(
        ctx: Any,
        ticket: str | None,
        strHCPResponse: str | None,
        strCompanyFileName: str | None,
        qbXMLCountry: str | None,
        qbXMLMajorVers: int | None,
        qbXMLMinorVers: int | None,
    ) -> str:
        return _sync(ctx).send_request(
            ticket or "",
            strHCPResponse or "",
            strCompanyFileName or "",
            qbXMLCountry or "",
            qbXMLMajorVers,
            qbXMLMinorVers,
        )

    @rpc(
        Unicode,
        Unicode,
        Unicode,
        Unicode,
        _returns=Integer32,
        _out_variable_name="receiveResponseXMLResult",
    )
    def receiveResponseXML(
        ctx: Any,
        ticket: str | None,
        response: str | None,
        hresult: str | None,
        message: str | None,
    ) -> int:
        return _sync(ctx).receive_response(
            ticket or "", response or "", hresult or "", message or ""
        )

    @rpc(Unicode, Unicode, Unicode, _returns=Unicode, _out_variable_name="connectionErrorResult")
    def connectionError(
        ctx: Any, ticket: str | None, hresult: str | None, message: str | None
    ) -> str:
        return _sync(ctx).connection_error(ticket or "", hresult or "", message or "")

    @rpc(Unicode, _returns=Unicode, _out_variable_name="getLastErrorResult")
    def getLastError(ctx: Any, ticket: str | None) -> str:
        return _sync(ctx).get_last_error(ticket or "")

    @rpc(Unicode, _returns=Unicode, _out_variable_name="closeConnectionResult")
    def closeConnection(ctx: Any, ticket: str | None) -> str:
        return _sync(ctx).close_connection(ticket or "")


def build_soap_app(sync: SyncService) -> WsgiApplication:
    """A WSGI app serving the QBWC service (WSDL at `?wsdl`)."""
    application = Application(
        [QBWebConnectorSvc],
        tns=NAMESPACE,
        name=SERVICE_NAME,
        in_protocol=Soap11(validator=None),
        out_protocol=Soap11(),
    )
    application.sync = sync
    return WsgiApplication(application)
