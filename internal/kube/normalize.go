package kube

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/rewindhq/rewind/internal/rewind"
)

// Normalize returns a pod template as the YAML Rewind keeps for a service
// version, and its hash (sha256, hex). The YAML has sorted keys and none of
// what the cluster adds by itself: no managedFields or other server-set
// metadata, and no pod-template-hash label of ReplicaSets. Two templates that
// run the same pods give the same YAML.
func Normalize(t *corev1.PodTemplateSpec) (content, hash string, err error) {
	n := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Name:         t.Name,
			GenerateName: t.GenerateName,
			Labels:       t.Labels,
			Annotations:  t.Annotations,
			Finalizers:   t.Finalizers,
		},
		Spec: t.Spec,
	}
	if _, ok := n.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
		labels := make(map[string]string, len(n.Labels))
		for k, v := range n.Labels {
			if k != appsv1.DefaultDeploymentUniqueLabelKey {
				labels[k] = v
			}
		}
		n.Labels = labels
	}
	if len(n.Labels) == 0 {
		n.Labels = nil
	}
	if len(n.Annotations) == 0 {
		n.Annotations = nil
	}
	// sigs.k8s.io/yaml goes through JSON and writes map keys in order.
	b, err := yaml.Marshal(&n)
	if err != nil {
		return "", "", fmt.Errorf("normalise pod template: %w", err)
	}
	sum := sha256.Sum256(b)
	return string(b), hex.EncodeToString(sum[:]), nil
}

// ParseTemplate reads a pod template from a service version's content.
func ParseTemplate(content string) (*corev1.PodTemplateSpec, error) {
	var t corev1.PodTemplateSpec
	if err := yaml.Unmarshal([]byte(content), &t); err != nil {
		return nil, fmt.Errorf("read pod template: %w", err)
	}
	return &t, nil
}

// Images lists the image of each container of a pod template, init
// containers first.
func Images(t *corev1.PodTemplateSpec) []rewind.Image {
	out := make([]rewind.Image, 0, len(t.Spec.InitContainers)+len(t.Spec.Containers))
	for _, c := range t.Spec.InitContainers {
		out = append(out, rewind.Image{Container: c.Name, Image: c.Image, Init: true})
	}
	for _, c := range t.Spec.Containers {
		out = append(out, rewind.Image{Container: c.Name, Image: c.Image})
	}
	return out
}

// templateAuthor returns the field manager that last changed a workload's pod
// template, as the managed fields tell: of the entries owning part of
// spec.template, the one with the latest time.
func templateAuthor(fields []metav1.ManagedFieldsEntry) (manager string, at time.Time) {
	for _, f := range fields {
		if f.Subresource != "" || !ownsTemplate(f) {
			continue
		}
		var t time.Time
		if f.Time != nil {
			t = f.Time.Time
		}
		if manager == "" || !t.Before(at) {
			manager, at = f.Manager, t
		}
	}
	return manager, at
}

// rewindWroteLast reports whether Rewind's field manager changed the workload
// no earlier than any other manager changed its pod template.
func rewindWroteLast(fields []metav1.ManagedFieldsEntry) bool {
	var mine time.Time
	found := false
	for _, f := range fields {
		if f.Manager == FieldManager && f.Subresource == "" && f.Time != nil {
			mine, found = f.Time.Time, true
		}
	}
	if !found {
		return false
	}
	for _, f := range fields {
		if f.Manager == FieldManager || f.Subresource != "" || f.Time == nil || !ownsTemplate(f) {
			continue
		}
		if f.Time.After(mine) {
			return false
		}
	}
	return true
}

// rewindUpdateTime returns when Rewind's field manager last changed the
// workload, by the cluster's clock; zero if it never did.
func rewindUpdateTime(fields []metav1.ManagedFieldsEntry) time.Time {
	for _, f := range fields {
		if f.Manager == FieldManager && f.Subresource == "" && f.Time != nil {
			return f.Time.Time
		}
	}
	return time.Time{}
}

// ownsTemplate reports whether a managed fields entry holds part of spec.template.
func ownsTemplate(f metav1.ManagedFieldsEntry) bool {
	if f.FieldsV1 == nil {
		return false
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(f.FieldsV1.Raw, &top); err != nil {
		return false
	}
	spec, ok := top["f:spec"]
	if !ok {
		return false
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(spec, &inner); err != nil {
		return false
	}
	_, ok = inner["f:template"]
	return ok
}

// templateFromRevision extracts the pod template kept in a StatefulSet's or
// DaemonSet's ControllerRevision. Its data is a strategic merge patch,
// {"spec":{"template":{..., "$patch":"replace"}}}.
func templateFromRevision(cr *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	raw := cr.Data.Raw
	if raw == nil && cr.Data.Object != nil {
		var err error
		if raw, err = json.Marshal(cr.Data.Object); err != nil {
			return nil, fmt.Errorf("controller revision %s: %w", cr.Name, err)
		}
	}
	var patch struct {
		Spec struct {
			Template json.RawMessage `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &patch); err != nil {
		return nil, fmt.Errorf("controller revision %s: %w", cr.Name, err)
	}
	if len(patch.Spec.Template) == 0 || bytes.Equal(patch.Spec.Template, []byte("null")) {
		return nil, fmt.Errorf("controller revision %s: no pod template in its data", cr.Name)
	}
	var t corev1.PodTemplateSpec
	// The "$patch" directive is not a field of the template and is ignored.
	if err := json.Unmarshal(patch.Spec.Template, &t); err != nil {
		return nil, fmt.Errorf("controller revision %s template: %w", cr.Name, err)
	}
	return &t, nil
}
