"""The Web Connector's own vocabulary: the words and numbers QBWC acts on.

From Intuit's QBWC Programmer's Guide. Each constant is what QBWC reads in
one of the eight methods' results, so the sync step never spells them inline.
"""

from __future__ import annotations

# authenticate: the second string of the answer.
AUTH_USE_OPEN_COMPANY = ""  # work to do, in the company file open in QuickBooks
AUTH_NONE = "none"  # nothing to do now; QBWC calls closeConnection
AUTH_NOT_VALID_USER = "nvu"  # wrong user name or password
AUTH_BUSY = "busy"  # the server cannot take this session now; QBWC tries at its next run

# connectionError: stop trying other company files.
CONNECTION_DONE = "done"

# receiveResponseXML: percent done; negative = an error (QBWC calls getLastError).
PERCENT_ERROR = -1

# sendRequestXML: no request; QBWC calls getLastError and ends the session.
NO_REQUEST = ""
