// The test bed's cpu-burner image: a load target for HorizontalPodAutoscaler tests (standard library only).
module aggregator-operator/testcluster/servers/cpu-burner

go 1.24.0
