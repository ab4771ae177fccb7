import SqueezeCore
print(BLAS.summary)
