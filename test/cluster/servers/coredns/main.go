// The test bed's cluster DNS: CoreDNS v1.15.0 with only the plugins the bed's Corefile uses
// (test/cluster/coredns.yaml), built the way CoreDNS documents for a custom build without changing its
// source ("Build with external golang source code", coredns.io/2017/07/25/compile-time-enabling-or-disabling-plugins):
// a main package of our own that imports coremain, core/dnsserver and the plugins, and sets the directive
// order. The release's main (coredns.go) imports core/plugin, which links every default plugin and the
// cloud providers' SDKs behind them; this one links ten. See docs/decisions/0010-bed-cluster-dns.md.
//
// The Corefile and this list must agree: a directive with no plugin here makes CoreDNS exit at start
// ("Unknown directive"). Without -conf CoreDNS serves a built-in Corefile of whoami and log, neither of
// which is here; the bed always passes -conf.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics" // the prometheus directive
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives is the release's own order (core/dnsserver/zdirectives.go, generated from plugin.cfg) cut
// to the plugins above, their relative order kept: a request passes the plugins in this order, whatever
// the order in the Corefile.
var directives = []string{
	"reload",
	"ready",
	"health",
	"prometheus",
	"errors",
	"loadbalance",
	"cache",
	"kubernetes",
	"loop",
	"forward",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
