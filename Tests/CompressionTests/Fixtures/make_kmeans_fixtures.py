#!/usr/bin/env python3
"""Writes kmeans.json: scikit-learn's KMeans (Lloyd) on fixed data from fixed initial centroids, its
k-means++ result (best of 10), and brute-force nearest-centroid assignments from numpy.
Run from this folder with scikit-learn installed: python3 make_kmeans_fixtures.py"""
import json
import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

def T(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(x) for x in a.ravel()]}

out = {"versions": {"numpy": np.__version__, "sklearn": sklearn.__version__}}
X, _ = make_blobs(n_samples=400, centers=6, n_features=5, cluster_std=1.5, random_state=3)
X = X.astype(np.float32)
rng = np.random.default_rng(7)
C0 = X[rng.choice(len(X), 6, replace=False)].copy()
km = KMeans(n_clusters=6, init=C0, n_init=1, max_iter=300, tol=1e-4, algorithm="lloyd").fit(X)
out["lloyd"] = {"X": T(X), "C0": T(C0), "centroids": T(km.cluster_centers_), "labels": km.labels_.tolist(),
                "inertia": float(km.inertia_), "n_iter": int(km.n_iter_)}
pp = KMeans(n_clusters=6, init="k-means++", n_init=10, random_state=0).fit(X)
out["plusplus"] = {"inertia": float(pp.inertia_)}
# An empty cluster: a starting centroid far from every point.
C1 = C0.copy(); C1[5] = 1000
e = KMeans(n_clusters=6, init=C1, n_init=1, max_iter=300, tol=1e-4, algorithm="lloyd").fit(X)
out["empty"] = {"C0": T(C1), "inertia": float(e.inertia_)}
Q = rng.standard_normal((50, 5)).astype(np.float32) * 5
d = ((Q[:, None, :].astype(np.float64) - C0[None, :, :]) ** 2).sum(-1)
out["assign"] = {"Q": T(Q), "labels": d.argmin(1).tolist(), "distances": d.min(1).tolist()}
json.dump(out, open("kmeans.json", "w"))
