// The Kubernetes-API scenarios through client-go's dynamic client: create, get, list, update, merge
// patch, delete, plus -setup-only and -cleanup. The watch scenario is in watch.go.
package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// requestTimeout bounds one request so a stuck server shows as errors, not as a hung run.
const requestTimeout = 60 * time.Second

func objectName(i int) string { return fmt.Sprintf("w-%05d", i) }

type kube struct {
	o   *options
	res dynamic.ResourceInterface
}

// newObject is the contract's body: spec {image, replicas, color} and a label.
func (k *kube) newObject(i int) *unstructured.Unstructured {
	apiVersion := k.o.version
	if k.o.group != "" {
		apiVersion = k.o.group + "/" + k.o.version
	}
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": apiVersion,
		"kind":       k.o.kind,
		"metadata": map[string]interface{}{
			"name":   objectName(i),
			"labels": map[string]interface{}{"bench": "loadgen"},
		},
		"spec": map[string]interface{}{"image": "nginx:1.27", "replicas": int64(1), "color": "blue"},
	}}
}

func timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), requestTimeout)
}

func runKube(o *options) (Result, error) {
	cfg, err := o.restConfig()
	if err != nil {
		return Result{}, err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Result{}, err
	}
	gvr := schema.GroupVersionResource{Group: o.group, Version: o.version, Resource: o.resource}
	k := &kube{o: o, res: client.Resource(gvr).Namespace(o.ns)}
	// Preflight, not timed: an unreachable server, bad credentials or a resource that is not served is a
	// setup failure (exit 1), not a run of failed requests.
	ctx, cancel := timeout()
	_, err = k.res.List(ctx, metav1.ListOptions{Limit: 1})
	cancel()
	if err != nil {
		return Result{}, fmt.Errorf("listing %s in %s: %w", gvr.String(), o.ns, err)
	}
	switch {
	case o.cleanup:
		return k.cleanup()
	case o.setupOnly:
		return k.setup()
	}
	switch o.scenario {
	case "create":
		return k.create(), nil
	case "get":
		return k.get(), nil
	case "list":
		return k.list()
	case "update":
		return k.update()
	case "patch":
		return k.patch(), nil
	case "delete":
		return k.delete(), nil
	case "watch":
		return k.watch()
	}
	return Result{}, fmt.Errorf("unknown scenario %q", o.scenario)
}

// setup creates the objects that do not exist yet; any other failure is a setup failure.
func (k *kube) setup() (Result, error) {
	r := measure(func(r *run) {
		pool(r, k.o.objects, k.o.concurrency, func(i int) error {
			ctx, cancel := timeout()
			defer cancel()
			_, err := k.res.Create(ctx, k.newObject(i), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return nil
			}
			return err
		})
	})
	res := r.result(k.o.scenario, k.o.label, k.o.objects, k.o.concurrency)
	res.SetupOnly, res.Objects = true, k.o.objects
	if r.errs.count > 0 {
		return res, fmt.Errorf("%d of %d creates failed, first: %s", r.errs.count, k.o.objects, r.errs.first)
	}
	return res, nil
}

// cleanup deletes every object of the resource in the namespace (listed in pages, deleted by the workers).
func (k *kube) cleanup() (Result, error) {
	var names []string
	opts := metav1.ListOptions{Limit: 500}
	for {
		ctx, cancel := timeout()
		list, err := k.res.List(ctx, opts)
		cancel()
		if err != nil {
			return Result{}, fmt.Errorf("listing for cleanup: %w", err)
		}
		for _, item := range list.Items {
			names = append(names, item.GetName())
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			break
		}
	}
	r := measure(func(r *run) {
		pool(r, len(names), k.o.concurrency, func(i int) error {
			ctx, cancel := timeout()
			defer cancel()
			err := k.res.Delete(ctx, names[i], metav1.DeleteOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		})
	})
	res := r.result("cleanup", k.o.label, len(names), k.o.concurrency)
	if r.errs.count > 0 {
		return res, fmt.Errorf("%d of %d deletes failed, first: %s", r.errs.count, len(names), r.errs.first)
	}
	return res, nil
}

func (k *kube) create() Result {
	return timedScenario(k.o, "create", k.o.objects, func(ctx context.Context, i int) error {
		_, err := k.res.Create(ctx, k.newObject(i), metav1.CreateOptions{})
		return err
	})
}

func (k *kube) delete() Result {
	return timedScenario(k.o, "delete", k.o.objects, func(ctx context.Context, i int) error {
		return k.res.Delete(ctx, objectName(i), metav1.DeleteOptions{})
	})
}

func (k *kube) get() Result {
	return timedScenario(k.o, "get", k.o.requests, func(ctx context.Context, i int) error {
		_, err := k.res.Get(ctx, objectName(i%k.o.objects), metav1.GetOptions{})
		return err
	})
}

// list sends -lists lists; one sample is a whole list, all its pages when -page > 0 (the time a
// client takes to read the collection).
func (k *kube) list() (Result, error) {
	var items, pages atomic.Int64
	r := measure(func(r *run) {
		pool(r, k.o.lists, k.o.concurrency, func(i int) error {
			opts := metav1.ListOptions{Limit: int64(k.o.page)}
			n, p := 0, 0
			for {
				ctx, cancel := timeout()
				list, err := k.res.List(ctx, opts)
				cancel()
				if err != nil {
					return err
				}
				n, p = n+len(list.Items), p+1
				if opts.Continue = list.GetContinue(); opts.Continue == "" {
					break
				}
			}
			items.Store(int64(n))
			pages.Store(int64(p))
			return nil
		})
	})
	res := r.result("list", k.o.label, k.o.lists, k.o.concurrency)
	res.Objects, res.Page = k.o.objects, k.o.page
	res.ItemsPerList, res.PagesPerList = int(items.Load()), int(pages.Load())
	return res, nil
}

// versions holds each object's last known resourceVersion, so an update carries it like a client
// that read the object before (CRDs refuse unconditional updates); one lock per object keeps two
// workers from racing on the same object, so conflicts mean something.
type versions struct {
	mu  []sync.Mutex
	rv  []string
	gen []int64
}

func (k *kube) loadVersions() (*versions, error) {
	v := &versions{mu: make([]sync.Mutex, k.o.objects), rv: make([]string, k.o.objects), gen: make([]int64, k.o.objects)}
	index := map[string]int{}
	for i := 0; i < k.o.objects; i++ {
		index[objectName(i)] = i
	}
	opts := metav1.ListOptions{Limit: 500}
	for {
		ctx, cancel := timeout()
		list, err := k.res.List(ctx, opts)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("listing the objects: %w", err)
		}
		for _, item := range list.Items {
			if i, ok := index[item.GetName()]; ok {
				v.rv[i] = item.GetResourceVersion()
				replicas, _, _ := unstructured.NestedInt64(item.Object, "spec", "replicas")
				v.gen[i] = replicas
			}
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			break
		}
	}
	for i, rv := range v.rv {
		if rv == "" {
			return nil, fmt.Errorf("object %s does not exist (run -setup-only first)", objectName(i))
		}
	}
	return v, nil
}

// nextReplicas changes spec.replicas on every write (1..9), so no write is a no-op the server may skip.
func nextReplicas(prev int64) int64 { return prev%9 + 1 }

func (k *kube) update() (Result, error) {
	v, err := k.loadVersions()
	if err != nil {
		return Result{}, err
	}
	r := measure(func(r *run) {
		pool(r, k.o.requests, k.o.concurrency, func(i int) error {
			o := i % k.o.objects
			v.mu[o].Lock()
			defer v.mu[o].Unlock()
			obj := k.newObject(o)
			obj.SetResourceVersion(v.rv[o])
			replicas := nextReplicas(v.gen[o])
			_ = unstructured.SetNestedField(obj.Object, replicas, "spec", "replicas")
			ctx, cancel := timeout()
			defer cancel()
			out, err := k.res.Update(ctx, obj, metav1.UpdateOptions{})
			if err != nil {
				if apierrors.IsConflict(err) {
					k.refresh(v, o) // not timed against this request: it already failed
				}
				return err
			}
			v.rv[o], v.gen[o] = out.GetResourceVersion(), replicas
			return nil
		})
	})
	res := r.result("update", k.o.label, k.o.requests, k.o.concurrency)
	res.Objects = k.o.objects
	return res, nil
}

func (k *kube) refresh(v *versions, o int) {
	ctx, cancel := timeout()
	defer cancel()
	if cur, err := k.res.Get(ctx, objectName(o), metav1.GetOptions{}); err == nil {
		v.rv[o] = cur.GetResourceVersion()
		v.gen[o], _, _ = unstructured.NestedInt64(cur.Object, "spec", "replicas")
	}
}

// patch sends JSON merge patches of spec.replicas; a per-object counter makes each one a change.
func (k *kube) patch() Result {
	counters := make([]atomic.Int64, k.o.objects)
	return timedScenario(k.o, "patch", k.o.requests, func(ctx context.Context, i int) error {
		o := i % k.o.objects
		replicas := counters[o].Add(1)%9 + 1
		body := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
		_, err := k.res.Patch(ctx, objectName(o), types.MergePatchType, body, metav1.PatchOptions{})
		return err
	})
}
