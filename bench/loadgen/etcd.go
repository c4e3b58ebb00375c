// The etcd floor: puts and ranges of a ~600-byte JSON value (about what a Widget weighs in etcd) under
// -etcd-prefix, with etcd's own Go client and the same worker model as the API scenarios.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdValueSize is the target size of one value, close to a created Widget's JSON with its metadata.
const etcdValueSize = 600

// etcdValue is a Widget-shaped JSON document of etcdValueSize bytes; the generation makes each put a
// different value.
func etcdValue(name string, generation int64) string {
	doc := map[string]interface{}{
		"apiVersion": "bench.example.com/v1",
		"kind":       "Widget",
		"metadata": map[string]interface{}{
			"name":              name,
			"namespace":         "bench",
			"uid":               "6f1c3a52-9a4e-4c1b-8d0e-2f7b5c9e1a00",
			"generation":        generation,
			"creationTimestamp": "2026-01-01T00:00:00Z",
			"labels":            map[string]interface{}{"bench": "loadgen"},
			"managedFields": []interface{}{map[string]interface{}{
				"manager": "bench-loadgen", "operation": "Update", "apiVersion": "bench.example.com/v1",
				"time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
				"fieldsV1": map[string]interface{}{"f:metadata": map[string]interface{}{
					"f:labels": map[string]interface{}{".": map[string]interface{}{}, "f:bench": map[string]interface{}{}}},
					"f:spec": map[string]interface{}{".": map[string]interface{}{}, "f:color": map[string]interface{}{},
						"f:image": map[string]interface{}{}, "f:replicas": map[string]interface{}{}}},
			}},
		},
		"spec": map[string]interface{}{"image": "nginx:1.27", "replicas": generation%9 + 1, "color": "blue"},
	}
	b, _ := json.Marshal(doc)
	if pad := etcdValueSize - len(b) - len(`,"pad":""`); pad > 0 {
		doc["pad"] = strings.Repeat("x", pad)
		b, _ = json.Marshal(doc)
	}
	return string(b)
}

type etcdTarget struct {
	o      *options
	client *clientv3.Client
	prefix string
}

func (t *etcdTarget) key(i int) string { return t.prefix + objectName(i) }

func runEtcd(o *options) (Result, error) {
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{o.etcdEndpoint},
		DialTimeout: 10 * time.Second,
	})
	if err != nil {
		return Result{}, err
	}
	defer client.Close()
	t := &etcdTarget{o: o, client: client, prefix: strings.TrimSuffix(o.etcdPrefix, "/") + "/"}
	ctx, cancel := timeout()
	_, err = client.Get(ctx, t.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return Result{}, fmt.Errorf("etcd at %s: %w", o.etcdEndpoint, err)
	}
	switch {
	case o.cleanup:
		return t.cleanup()
	case o.setupOnly:
		return t.setup()
	case o.scenario == "etcd-put":
		return t.put(), nil
	}
	if err := t.ensureKeys(); err != nil {
		return Result{}, err
	}
	if o.requests == 0 && o.lists > 0 {
		return t.rangePrefix(), nil
	}
	return t.rangeKeys(), nil
}

func (t *etcdTarget) putAll(r *run) {
	pool(r, t.o.objects, t.o.concurrency, func(i int) error {
		ctx, cancel := timeout()
		defer cancel()
		_, err := t.client.Put(ctx, t.key(i), etcdValue(objectName(i), 0))
		return err
	})
}

func (t *etcdTarget) setup() (Result, error) {
	r := measure(t.putAll)
	res := r.result(t.o.scenario, t.o.label, t.o.objects, t.o.concurrency)
	res.SetupOnly, res.Objects = true, t.o.objects
	if r.errs.count > 0 {
		return res, fmt.Errorf("%d of %d puts failed, first: %s", r.errs.count, t.o.objects, r.errs.first)
	}
	return res, nil
}

// ensureKeys writes the -objects keys unless the prefix already holds at least that many.
func (t *etcdTarget) ensureKeys() error {
	ctx, cancel := timeout()
	resp, err := t.client.Get(ctx, t.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return err
	}
	if resp.Count >= int64(t.o.objects) {
		return nil
	}
	_, err = t.setup()
	return err
}

func (t *etcdTarget) cleanup() (Result, error) {
	var deleted int64
	r := measure(func(r *run) {
		ctx, cancel := timeout()
		defer cancel()
		resp, err := t.client.Delete(ctx, t.prefix, clientv3.WithPrefix())
		if err != nil {
			r.errs.add(err)
			return
		}
		deleted = resp.Deleted
	})
	res := r.result("cleanup", t.o.label, int(deleted), 1)
	if r.errs.count > 0 {
		return res, fmt.Errorf("deleting %s: %s", t.prefix, r.errs.first)
	}
	return res, nil
}

func (t *etcdTarget) put() Result {
	objects := t.o.objects
	generations := make([]atomic.Int64, objects)
	return timedScenario(t.o, "etcd-put", t.o.requests, func(ctx context.Context, i int) error {
		o := i % objects
		_, err := t.client.Put(ctx, t.key(o), etcdValue(objectName(o), generations[o].Add(1)))
		return err
	})
}

// rangeKeys reads single keys: the floor under get.
func (t *etcdTarget) rangeKeys() Result {
	return timedScenario(t.o, "etcd-range", t.o.requests, func(ctx context.Context, i int) error {
		resp, err := t.client.Get(ctx, t.key(i%t.o.objects))
		if err == nil && len(resp.Kvs) != 1 {
			err = fmt.Errorf("key %s: %d values", t.key(i%t.o.objects), len(resp.Kvs))
		}
		return err
	})
}

// rangePrefix reads the whole prefix -lists times, in pages of -page keys when set: the floor under list.
func (t *etcdTarget) rangePrefix() Result {
	var items, pages atomic.Int64
	end := clientv3.GetPrefixRangeEnd(t.prefix)
	r := measure(func(r *run) {
		pool(r, t.o.lists, t.o.concurrency, func(i int) error {
			from, n, p := t.prefix, 0, 0
			var rev int64
			for {
				opts := []clientv3.OpOption{clientv3.WithRange(end)}
				if t.o.page > 0 {
					opts = append(opts, clientv3.WithLimit(int64(t.o.page)))
				}
				if rev != 0 {
					// Later pages read the first page's revision, as kube-apiserver's continue does.
					opts = append(opts, clientv3.WithRev(rev))
				}
				ctx, cancel := timeout()
				resp, err := t.client.Get(ctx, from, opts...)
				cancel()
				if err != nil {
					return err
				}
				n, p, rev = n+len(resp.Kvs), p+1, resp.Header.Revision
				if !resp.More || len(resp.Kvs) == 0 {
					break
				}
				from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
			}
			items.Store(int64(n))
			pages.Store(int64(p))
			return nil
		})
	})
	res := r.result("etcd-range", t.o.label, t.o.lists, t.o.concurrency)
	res.Objects, res.Page = t.o.objects, t.o.page
	res.ItemsPerList, res.PagesPerList = int(items.Load()), int(pages.Load())
	return res
}
