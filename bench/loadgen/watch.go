// The watch fan-out scenario: W watches open from a list's resourceVersion, one writer updates one
// object E times (each update waits for its acknowledgement), every watcher stamps the receipt of each
// event; a sample is receipt minus the writer's acknowledgement of the write with that resourceVersion.
package main

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
)

// deliveryGrace is how long watchers may still receive events after the last acknowledged write.
const deliveryGrace = 30 * time.Second

// ack is one acknowledged write: when the writer sent it and when its response arrived.
type ack struct {
	rv       string
	sent, at time.Time
}

// watcher collects, for the watched object, each MODIFIED event's resourceVersion and receipt time.
type watcher struct {
	w        watch.Interface
	received map[string]time.Time
	closed   error // why the stream ended early, if it did
	done     chan struct{}
}

func (x *watcher) collect(name string, want int) {
	defer close(x.done)
	for ev := range x.w.ResultChan() {
		at := time.Now()
		switch ev.Type {
		case watch.Modified:
			if u, ok := ev.Object.(*unstructured.Unstructured); ok && u.GetName() == name {
				x.received[u.GetResourceVersion()] = at
				if len(x.received) >= want {
					return
				}
			}
		case watch.Error:
			x.closed = apierrors.FromObject(ev.Object)
			return
		}
	}
	x.closed = fmt.Errorf("watch closed by the server after %d of %d events", len(x.received), want)
}

func (k *kube) watch() (Result, error) {
	o := k.o
	name := objectName(0)
	ctx, cancel := timeout()
	obj, err := k.res.Get(ctx, name, metav1.GetOptions{})
	cancel()
	if apierrors.IsNotFound(err) {
		ctx, cancel = timeout()
		obj, err = k.res.Create(ctx, k.newObject(0), metav1.CreateOptions{})
		cancel()
	}
	if err != nil {
		return Result{}, fmt.Errorf("reading %s: %w", name, err)
	}
	ctx, cancel = timeout()
	list, err := k.res.List(ctx, metav1.ListOptions{Limit: 1})
	cancel()
	if err != nil {
		return Result{}, fmt.Errorf("listing for the watch resourceVersion: %w", err)
	}

	// Open all watches before the first write; opening is not measured.
	watchCtx, stopWatches := context.WithCancel(context.Background())
	defer stopWatches()
	watchers := make([]*watcher, o.watchers)
	opened := &run{}
	pool(opened, o.watchers, o.concurrency, func(i int) error {
		w, err := k.res.Watch(watchCtx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			return err
		}
		watchers[i] = &watcher{w: w, received: map[string]time.Time{}, done: make(chan struct{})}
		go watchers[i].collect(name, o.events)
		return nil
	})
	if opened.errs.count > 0 {
		return Result{}, fmt.Errorf("%d of %d watches failed to open, first: %s", opened.errs.count, o.watchers, opened.errs.first)
	}
	defer func() {
		for _, x := range watchers {
			x.w.Stop()
		}
	}()

	var acks []ack
	var writes []time.Duration
	r := measure(func(r *run) {
		rv := obj.GetResourceVersion()
		replicas, _, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas")
		for e := 0; e < o.events; e++ {
			next := obj.DeepCopy()
			next.SetResourceVersion(rv)
			replicas = nextReplicas(replicas)
			_ = unstructured.SetNestedField(next.Object, replicas, "spec", "replicas")
			ctx, cancel := timeout()
			t0 := time.Now()
			out, err := k.res.Update(ctx, next, metav1.UpdateOptions{})
			at := time.Now()
			cancel()
			if err != nil {
				r.errs.add(fmt.Errorf("write %d: %w", e, err))
				continue
			}
			writes = append(writes, at.Sub(t0))
			rv = out.GetResourceVersion()
			acks = append(acks, ack{rv: rv, sent: t0, at: at})
		}
		deadline := time.After(deliveryGrace)
		for _, x := range watchers {
			select {
			case <-x.done:
			case <-deadline:
			}
		}
	})
	// Collectors that ended by themselves before this point either got everything or lost their stream.
	ended := make([]bool, len(watchers))
	for i, x := range watchers {
		select {
		case <-x.done:
			ended[i] = true
		default:
		}
	}
	stopWatches()

	// Join each watcher's receipts with the acknowledgements; a watcher's map is final once its
	// collector returned (or the watch was stopped above, which ends it).
	early := 0
	missing := 0
	var fromSent []time.Duration
	for i, x := range watchers {
		x.w.Stop()
		<-x.done
		for _, a := range acks {
			at, ok := x.received[a.rv]
			if !ok {
				missing++
				continue
			}
			fromSent = append(fromSent, at.Sub(a.sent))
			d := at.Sub(a.at)
			if d < 0 {
				// The event overtook the writer's response: delivery took no time after the ack.
				early++
				d = 0
			}
			r.samples = append(r.samples, d)
		}
		if ended[i] && x.closed != nil && len(x.received) < len(acks) && r.errs.first == "" {
			r.errs.first = x.closed.Error()
		}
	}
	if missing > 0 && r.errs.first == "" {
		r.errs.first = fmt.Sprintf("%d deliveries not received within %s of the last write", missing, deliveryGrace)
	}
	total := o.watchers * o.events
	r.errs.count = total - len(r.samples)
	res := r.result("watch", o.label, total, o.concurrency)
	wl, fs := summarize(writes), summarize(fromSent)
	res.Objects, res.Watchers, res.Events, res.EarlyEvents = o.objects, o.watchers, o.events, early
	res.WriteLatencyMs, res.FromWriteStartMs = &wl, &fs
	return res, nil
}
