/**
 * metav1.Condition, the status condition shape both the Widget API and the AggregatedAPI use, so that
 * `kubectl wait --for=condition=X` and generic tooling read them alike.
 */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}
