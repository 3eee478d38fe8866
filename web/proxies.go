package web

import (
	"net"

	"github.com/labstack/echo/v4"
)

// ipExtractor says from which address a request comes, for the audit trail and the sign-in
// limits. Only a peer among trusted (the reverse proxies in front of scmadmin) is believed
// about X-Forwarded-For, and then only as far as the rightmost address that is not one of
// them: anyone else could write any address into the header.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	// Echo trusts loopback, link-local and private peers unless told otherwise.
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
