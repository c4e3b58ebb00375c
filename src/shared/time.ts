/**
 * metav1.Time on the wire: RFC 3339 in UTC with whole seconds, as kube-apiserver writes timestamps
 * (creationTimestamp, lastTransitionTime, ...).
 */
export function rfc3339Seconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
