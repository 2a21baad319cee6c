// Package deploy holds keygate's container image and Kubernetes manifests
// (deploy/Dockerfile, deploy/kubernetes) and the tests that check them
// statically. It is its own module so that the keygate binary does not
// depend on Kubernetes libraries.
package deploy
