// loadgen: the bench harness's load generator (issue 9; its CLI and JSON are what the TypeScript
// orchestrator in bench/ relies on). One scenario per invocation against a Kubernetes-style API
// (client-go's dynamic client, rate limiter off, HTTP/2 like kubectl) or raw etcd (clientv3); prints
// one JSON object on stdout.
// Exit code 0 even when requests fail (they are counted); non-zero only for bad flags or setup failure.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

type options struct {
	kubeconfig, server, ca, cert, key  string
	group, version, resource, kind, ns string
	scenario, label                    string
	objects, requests, concurrency     int
	page, lists, watchers, events      int
	etcdEndpoint, etcdPrefix           string
	setupOnly, cleanup                 bool
}

var kubeScenarios = map[string]bool{
	"create": true, "get": true, "list": true, "update": true, "patch": true, "delete": true, "watch": true,
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig whose server URL and credentials are used")
	fs.StringVar(&o.server, "server", "", "server URL (overrides the kubeconfig's)")
	fs.StringVar(&o.ca, "ca", "", "CA bundle file for the server's certificate")
	fs.StringVar(&o.cert, "cert", "", "client certificate file")
	fs.StringVar(&o.key, "key", "", "client key file")
	fs.StringVar(&o.group, "group", "", "API group")
	fs.StringVar(&o.version, "version", "v1", "API version")
	fs.StringVar(&o.resource, "resource", "", "resource (plural)")
	fs.StringVar(&o.kind, "kind", "", "kind of the created objects")
	fs.StringVar(&o.ns, "namespace", "", "namespace (must exist)")
	fs.StringVar(&o.scenario, "scenario", "",
		"create|get|list|update|patch|delete|watch|etcd-put|etcd-range")
	fs.StringVar(&o.label, "label", "", "free text copied to the result's target")
	fs.IntVar(&o.objects, "objects", 100, "objects that exist (create/delete: objects to create/delete)")
	fs.IntVar(&o.requests, "requests", 1000, "requests to send (get/update/patch/etcd-put/etcd-range)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "workers")
	fs.IntVar(&o.page, "page", 0, "list: page size (0 = one full list)")
	fs.IntVar(&o.lists, "lists", 10, "list: lists to send (etcd-range: prefix ranges instead of gets when > 0 and -requests 0)")
	fs.IntVar(&o.watchers, "watchers", 10, "watch: watches open")
	fs.IntVar(&o.events, "events", 100, "watch: sequential updates by one writer")
	fs.StringVar(&o.etcdEndpoint, "etcd-endpoint", "http://127.0.0.1:23790", "etcd endpoint (etcd-* scenarios)")
	fs.StringVar(&o.etcdPrefix, "etcd-prefix", "", "etcd key prefix (etcd-* scenarios)")
	fs.BoolVar(&o.setupOnly, "setup-only", false, "create the -objects objects (or etcd keys) without measuring")
	fs.BoolVar(&o.cleanup, "cleanup", false, "delete the namespace's objects of the resource (or the etcd prefix)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, o.validate()
}

func (o *options) validate() error {
	etcd := strings.HasPrefix(o.scenario, "etcd-")
	switch {
	case o.scenario == "" && !o.cleanup:
		return fmt.Errorf("-scenario is required")
	case o.scenario != "" && !etcd && !kubeScenarios[o.scenario]:
		return fmt.Errorf("unknown -scenario %q", o.scenario)
	case etcd && o.scenario != "etcd-put" && o.scenario != "etcd-range":
		return fmt.Errorf("unknown -scenario %q", o.scenario)
	case o.setupOnly && o.cleanup:
		return fmt.Errorf("-setup-only and -cleanup exclude each other")
	case o.objects < 0 || o.requests < 0 || o.lists < 0 || o.page < 0 || o.watchers < 0 || o.events < 0:
		return fmt.Errorf("counts must not be negative")
	case o.concurrency < 1:
		return fmt.Errorf("-concurrency must be at least 1")
	}
	if etcd {
		if o.etcdEndpoint == "" || o.etcdPrefix == "" {
			return fmt.Errorf("-etcd-endpoint and -etcd-prefix are required for %s", o.scenario)
		}
		if !strings.HasPrefix(o.etcdPrefix, "/") || len(o.etcdPrefix) < 2 {
			// A prefix like "" or "/" would make -cleanup delete the whole keyspace.
			return fmt.Errorf("-etcd-prefix must start with / and name a subtree, got %q", o.etcdPrefix)
		}
		if o.objects < 1 && !o.cleanup {
			return fmt.Errorf("-objects must be at least 1")
		}
		return nil
	}
	if o.kubeconfig == "" && o.server == "" {
		return fmt.Errorf("-kubeconfig or -server is required")
	}
	if o.resource == "" || o.version == "" || o.ns == "" {
		return fmt.Errorf("-resource, -version and -namespace are required")
	}
	if (o.scenario == "create" || o.setupOnly || o.scenario == "watch") && o.kind == "" {
		return fmt.Errorf("-kind is required to create objects")
	}
	if o.objects < 1 && o.scenario != "create" && !o.cleanup {
		return fmt.Errorf("-objects must be at least 1")
	}
	return nil
}

// restConfig builds the client configuration: the kubeconfig's, with any of -server/-ca/-cert/-key
// replacing its values, or those flags alone. No client-side rate limiting (QPS < 0 disables it).
func (o *options) restConfig() (*rest.Config, error) {
	cfg := &rest.Config{}
	if o.kubeconfig != "" {
		var err error
		if cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig); err != nil {
			return nil, err
		}
	}
	if o.server != "" {
		cfg.Host = o.server
	}
	if o.ca != "" {
		cfg.TLSClientConfig.CAFile, cfg.TLSClientConfig.CAData = o.ca, nil
	}
	if o.cert != "" || o.key != "" {
		cfg.TLSClientConfig.CertFile, cfg.TLSClientConfig.CertData = o.cert, nil
		cfg.TLSClientConfig.KeyFile, cfg.TLSClientConfig.KeyData = o.key, nil
		cfg.BearerToken, cfg.BearerTokenFile = "", ""
	}
	cfg.QPS = -1
	cfg.Burst = 0
	cfg.RateLimiter = nil
	cfg.UserAgent = "bench-loadgen"
	return cfg, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	var res Result
	if strings.HasPrefix(o.scenario, "etcd-") {
		res, err = runEtcd(o)
	} else {
		res, err = runKube(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: setup failed:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}
