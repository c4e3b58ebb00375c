// Command apply is the client-go witness for server-side apply (issue 11): it drives a Widget server
// through client-go's dynamic client Apply and ApplyStatus, as controllers and Flux's Go libraries do,
// and extracts a manager's fields with apimachinery's managedfields.ExtractInto, parsing the server's
// own OpenAPI v2 document and FieldsV1 with structured-merge-diff. It prints one JSON object of what it
// observed; the Jest test (test/e2e/client-go-apply.test.ts) asserts on it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	yaml "go.yaml.in/yaml/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kube-openapi/pkg/util/proto"
)

type observed struct {
	Created                    bool               `json:"created"`
	ReapplyUnchanged           bool               `json:"reapplyUnchanged"`
	DryRunImage                string             `json:"dryRunImage"`
	ImageAfterDryRun           string             `json:"imageAfterDryRun"`
	Conflict                   *conflictSeen      `json:"conflict,omitempty"`
	ForcedReplicas             int64              `json:"forcedReplicas"`
	Managers                   []string           `json:"managers"`
	LabelsAfterPrune           *map[string]string `json:"labelsAfterPrune"`
	StatusManager              *managerSeen       `json:"statusManager,omitempty"`
	Conditions                 []map[string]any   `json:"conditions"`
	Extracted                  map[string]any     `json:"extracted"`
	OpenAPIProtobufMatchesJSON bool               `json:"openAPIProtobufMatchesJSON"`
	OpenAPIDefinitions         int                `json:"openAPIDefinitions"`
	OpenAPIPaths               int                `json:"openAPIPaths"`
	Steps                      []string           `json:"steps"`
}

type conflictSeen struct {
	IsConflict bool                 `json:"isConflict"`
	Message    string               `json:"message"`
	Causes     []metav1.StatusCause `json:"causes"`
}

type managerSeen struct {
	Manager     string `json:"manager"`
	Operation   string `json:"operation"`
	Subresource string `json:"subresource"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the Widget server")
	group := flag.String("group", "custom.example.com", "API group")
	namespace := flag.String("namespace", "", "namespace")
	name := flag.String("name", "applied", "widget name")
	flag.Parse()
	if err := run(*kubeconfig, *group, *namespace, *name); err != nil {
		fmt.Fprintln(os.Stderr, "witness:", err)
		os.Exit(1)
	}
}

func widget(group, name string, spec map[string]any, labels map[string]any) *unstructured.Unstructured {
	meta := map[string]any{"name": name}
	if labels != nil {
		meta["labels"] = labels
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1",
		"kind":       "Widget",
		"metadata":   meta,
		"spec":       spec,
	}}
}

func run(kubeconfig, group, namespace, name string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.UserAgent = "apply-witness/v0 (client-go)"
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	gvr := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}
	res := dyn.Resource(gvr).Namespace(namespace)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := observed{}
	step := func(s string) { out.Steps = append(out.Steps, s) }
	apply := metav1.ApplyOptions{FieldManager: "witness"}
	spec := map[string]any{"image": "nginx:1.27", "replicas": int64(2)}

	step("apply creates")
	first, err := res.Apply(ctx, name, widget(group, name, spec, map[string]any{"team": "a"}), apply)
	if err != nil {
		return fmt.Errorf("first apply: %w", err)
	}
	out.Created = first.GetUID() != ""

	step("re-apply")
	second, err := res.Apply(ctx, name, widget(group, name, spec, map[string]any{"team": "a"}), apply)
	if err != nil {
		return fmt.Errorf("re-apply: %w", err)
	}
	out.ReapplyUnchanged = second.GetResourceVersion() == first.GetResourceVersion()

	step("dry-run apply, as Flux diffs")
	dry, err := res.Apply(ctx, name, widget(group, name, map[string]any{"image": "nginx:1.28", "replicas": int64(2)},
		map[string]any{"team": "a"}), metav1.ApplyOptions{FieldManager: "witness", DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return fmt.Errorf("dry-run apply: %w", err)
	}
	out.DryRunImage, _, _ = unstructured.NestedString(dry.Object, "spec", "image")
	after, err := res.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get after dry run: %w", err)
	}
	out.ImageAfterDryRun, _, _ = unstructured.NestedString(after.Object, "spec", "image")

	step("another manager changes spec.replicas")
	if _, err := res.Patch(ctx, name, types.MergePatchType, []byte(`{"spec":{"replicas":5}}`),
		metav1.PatchOptions{FieldManager: "tuner"}); err != nil {
		return fmt.Errorf("tuner's patch: %w", err)
	}

	step("apply conflicts")
	_, err = res.Apply(ctx, name, widget(group, name, spec, map[string]any{"team": "a"}), apply)
	if err == nil {
		return fmt.Errorf("apply after tuner's change succeeded; a conflict was expected")
	}
	c := &conflictSeen{IsConflict: apierrors.IsConflict(err), Message: err.Error()}
	if status, ok := err.(apierrors.APIStatus); ok && status.Status().Details != nil {
		c.Causes = status.Status().Details.Causes
	}
	out.Conflict = c

	step("apply with force")
	forced, err := res.Apply(ctx, name, widget(group, name, spec, map[string]any{"team": "a"}),
		metav1.ApplyOptions{FieldManager: "witness", Force: true})
	if err != nil {
		return fmt.Errorf("forced apply: %w", err)
	}
	out.ForcedReplicas, _, _ = unstructured.NestedInt64(forced.Object, "spec", "replicas")

	step("apply without the label")
	pruned, err := res.Apply(ctx, name, widget(group, name, spec, nil), apply)
	if err != nil {
		return fmt.Errorf("apply without labels: %w", err)
	}
	if labels, found, _ := unstructured.NestedStringMap(pruned.Object, "metadata", "labels"); found {
		out.LabelsAfterPrune = &labels
	}

	step("apply status")
	status := widget(group, name, nil, nil)
	delete(status.Object, "spec")
	status.Object["status"] = map[string]any{"conditions": []any{map[string]any{
		"type": "Ready", "status": "True", "reason": "Witnessed", "message": "applied by client-go",
		"lastTransitionTime": "2026-12-07T00:00:00Z",
	}}}
	withStatus, err := res.ApplyStatus(ctx, name, status, metav1.ApplyOptions{FieldManager: "witness-status", Force: true})
	if err != nil {
		return fmt.Errorf("apply status: %w", err)
	}
	conditions, _, _ := unstructured.NestedSlice(withStatus.Object, "status", "conditions")
	for _, cond := range conditions {
		if m, ok := cond.(map[string]any); ok {
			out.Conditions = append(out.Conditions, m)
		}
	}
	for _, e := range withStatus.GetManagedFields() {
		out.Managers = append(out.Managers, fmt.Sprintf("%s/%s/%s", e.Manager, e.Operation, e.Subresource))
		if e.Manager == "witness-status" {
			out.StatusManager = &managerSeen{Manager: e.Manager, Operation: string(e.Operation), Subresource: e.Subresource}
		}
	}

	step("extract the witness's fields with the server's OpenAPI")
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	// The protobuf form, as client-go asks for it; it must say what gnostic reads from our JSON.
	doc, err := disco.OpenAPISchema()
	if err != nil {
		return fmt.Errorf("openapi v2 (protobuf): %w", err)
	}
	raw, err := disco.RESTClient().Get().AbsPath("/openapi/v2").SetHeader("Accept", "application/json").
		Do(ctx).Raw()
	if err != nil {
		return fmt.Errorf("openapi v2 (json): %w", err)
	}
	fromJSON, err := openapi_v2.ParseDocument(raw)
	if err != nil {
		return fmt.Errorf("openapi v2 document: %w", err)
	}
	out.OpenAPIProtobufMatchesJSON, err = sameDocument(doc, fromJSON)
	if err != nil {
		return err
	}
	out.OpenAPIDefinitions = len(doc.GetDefinitions().GetAdditionalProperties())
	out.OpenAPIPaths = len(doc.GetPaths().GetPath())
	models, err := proto.NewOpenAPIData(doc)
	if err != nil {
		return fmt.Errorf("openapi v2 models: %w", err)
	}
	parser, err := managedfields.NewGVKParser(models, false)
	if err != nil {
		return fmt.Errorf("gvk parser: %w", err)
	}
	gvk := schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Widget"}
	parseable := parser.Type(gvk)
	if parseable == nil {
		return fmt.Errorf("the OpenAPI document has no type for %s", gvk)
	}
	extracted := map[string]any{}
	if err := managedfields.ExtractInto(withStatus, *parseable, "witness", &extracted, ""); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	out.Extracted = extracted

	return json.NewEncoder(os.Stdout).Encode(out)
}

// sameDocument compares two OpenAPI v2 documents by content: each back to YAML and decoded, so that
// scalar styles (a JSON string is double-quoted YAML) do not count.
func sameDocument(a, b *openapi_v2.Document) (bool, error) {
	decode := func(d *openapi_v2.Document) (any, error) {
		text, err := yaml.Marshal(d.ToRawInfo())
		if err != nil {
			return nil, err
		}
		var v any
		return v, yaml.Unmarshal(text, &v)
	}
	va, err := decode(a)
	if err != nil {
		return false, err
	}
	vb, err := decode(b)
	if err != nil {
		return false, err
	}
	if !reflect.DeepEqual(va, vb) {
		ta, _ := yaml.Marshal(va)
		tb, _ := yaml.Marshal(vb)
		os.WriteFile(os.Getenv("WITNESS_DIFF_DIR")+"/protobuf.yaml", ta, 0o644)
		os.WriteFile(os.Getenv("WITNESS_DIFF_DIR")+"/json.yaml", tb, 0o644)
		return false, nil
	}
	return true, nil
}
