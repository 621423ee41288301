from setuptools import find_packages, setup

setup(
    name="minicnn-fer",
    version="0.1.0",
    description="minicnn, a from-scratch NumPy/Numba CNN framework, and fer_app, an offline facial-expression recognizer",
    packages=find_packages(include=["minicnn", "minicnn.*", "fer_app", "fer_app.*"]),
    package_data={"fer_app": ["weights/*.npz", "web_static/*"]},
    python_requires=">=3.9",
    install_requires=["numpy>=1.23", "numba>=0.57", "threadpoolctl>=3.1", "opencv-python>=4.8,<5", "matplotlib>=3.6",
                      "pillow", "tqdm",
                      # live --output: recordings that still play after a kill (fragmented MP4, H.264)
                      "av>=12",
                      # YuNet, the default face detector: wheels for Linux x86-64, CPython 3.9-3.11 (else Haar)
                      "yuface>=2023.5; platform_system == 'Linux' and platform_machine == 'x86_64' "
                      "and python_version < '3.12'"],
    # tune: hyper-parameter search (fer_app.tune) on Optuna; the tests cover it too.
    # cuda: training on an NVIDIA GPU (fer_app.train --device cuda) through CuPy, here for CUDA 12; other CUDA
    # versions take their own cupy-cudaNNx wheel instead
    extras_require={"tune": ["optuna>=3.6"], "test": ["pytest", "optuna>=3.6"], "cuda": ["cupy-cuda12x>=13"],
                    "onnx": ["onnx>=1.15", "onnxruntime>=1.17"], "cluster": ["ray>=2.9"],
                    "web": ["starlette>=0.37", "uvicorn>=0.29"]},
)
