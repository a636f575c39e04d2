//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "mnv2", version, about = "MobileNetV2: classify images, inspect the architecture, run models")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Largest image accepted, in pixels (width x height, read from the header before decoding;
    /// K/M suffixes are powers of 1024). Default 64M = 8192 x 8192.
    #[arg(long, global = true, help_heading = "Limits", env = "MNV2_MAX_PIXELS", value_parser = crate::values::pixels)]
    pub max_pixels: Option<u64>,
    /// Largest image, .npy, labels or dataset file read, in bytes (K/M/G suffixes). Default 256M.
    #[arg(long, global = true, help_heading = "Limits", env = "MNV2_MAX_FILE_BYTES", value_parser = crate::values::bytes)]
    pub max_file_bytes: Option<u64>,
    /// Most activation memory one batch may take, in bytes (K/M/G suffixes); larger batches are
    /// refused before anything is allocated. Default 8G.
    #[arg(long, global = true, help_heading = "Limits", env = "MNV2_MAX_MEMORY", value_parser = crate::values::bytes)]
    pub max_memory: Option<u64>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Print the layer table (Table 2) with shapes, parameters and multiply-adds.
    #[command(
        after_help = "Examples:\n  mnv2 info\n  mnv2 info --width 0.5 --resolution 160\n  mnv2 info --task segment --classes 21 --resolution 513\n  mnv2 info --model ../shared/models/mobilenet_v2_1.0_224_quant.tflite --json",
        allow_negative_numbers = true
    )]
    Info(InfoArgs),
    /// Classify image files or directories of images.
    #[command(
        after_help = "Examples:\n  mnv2 classify ../shared/images/cat.bmp\n  mnv2 classify --top 1 --json ../shared/images\n  mnv2 classify --model ../shared/models/tf2_mobilenet_v2_1.0_224_ptq.tflite --precision f32 photo.jpg",
        allow_negative_numbers = true
    )]
    Classify(ClassifyArgs),
    /// Run a model on a prepared input tensor and write the raw output as .npy.
    #[command(
        after_help = "Examples:\n  mnv2 run --input input.npy --output logits.npy\n  mnv2 run --model ../shared/models/tf2_mobilenet_v2_1.0_224_ptq.tflite --input image224.png --output out.npy",
        allow_negative_numbers = true
    )]
    Run(RunArgs),
    /// Quantize a float classifier to int8 (TFLite's int8 scheme) with images for calibration.
    #[command(
        after_help = "Examples:\n  mnv2 quantize --model flowers.safetensors --images flowers/train -o flowers-int8.safetensors\n  mnv2 quantize --model ../shared/models/torchvision_mobilenet_v2_random.pth --images photos/ --count 500 -o tv-int8.safetensors"
    )]
    Quantize(QuantizeArgs),
    /// Write a classifier for another runtime: .onnx (float32, opset 17, NCHW, dynamic batch) or
    /// .tflite (float32, or integer as a quantized model is).
    #[command(
        after_help = "Examples:\n  mnv2 export --model flowers.safetensors -o flowers.onnx\n  mnv2 export --model flowers-int8.safetensors -o flowers-int8.tflite"
    )]
    Export(ExportArgs),
    /// Measure latency, throughput and activation memory of a model on this machine.
    #[command(
        after_help = "Examples:\n  mnv2 bench\n  mnv2 bench --precision f32 --threads 2 --batch 32 --json\n  mnv2 bench --model ../shared/models/ssdlite_mobilenet_v2_pedestrian_frozen.pb",
        allow_negative_numbers = true
    )]
    Bench(BenchArgs),
    /// Semantic segmentation: a class mask and a coloured overlay per image.
    #[command(
        after_help = "Examples:\n  mnv2 segment --out masks ../shared/images/dog_segmentation.bmp\n  mnv2 segment --model ../shared/models/deeplabv3_mnv2_dm05_pascal_quant.tflite --json --out out photos/",
        allow_negative_numbers = true
    )]
    Segment(SegmentArgs),
    /// Object detection (SSDLite): boxes drawn on each image, optionally JSON.
    #[command(
        after_help = "Examples:\n  mnv2 detect --out boxes ../shared/images/kite_and_cold.jpg\n  mnv2 detect --score-threshold 0.5 --json --out boxes photos/",
        allow_negative_numbers = true
    )]
    Detect(DetectArgs),
    /// Average precision of a detector on a PennFudan-format or COCO-JSON dataset.
    #[command(name = "eval-det")]
    #[command(
        after_help = "Examples:\n  mnv2 eval-det --data ../shared/datasets/PennFudanPed\n  mnv2 eval-det --model ped.safetensors --data ../shared/datasets/PennFudanPed --subset ped.holdout.txt --json",
        allow_negative_numbers = true
    )]
    EvalDet(EvalDetArgs),
    /// Train an SSDLite detector from an ImageNet backbone on a PennFudan-format or COCO-JSON dataset.
    #[command(name = "train-det")]
    #[command(
        after_help = "Examples:\n  mnv2 train-det --data ../shared/datasets/PennFudanPed --epochs 60 --batch 8 --lr 1e-3 --ema 0.99 -o ped.safetensors\n  mnv2 train-det --data ../shared/datasets/PennFudanPed --epochs 60 -o ped.safetensors --resume",
        allow_negative_numbers = true
    )]
    TrainDet(TrainDetArgs),
    /// Train a classifier on an image folder (one sub-folder per class).
    #[command(
        after_help = "Examples:\n  mnv2 train --data flowers/train --val flowers/val --init ../shared/models/mobilenet_v2_1.0_224_quant.tflite --freeze-backbone -o probe.safetensors\n  mnv2 train --data flowers/train --val flowers/val --init ../shared/models/mobilenet_v2_1.0_224_quant.tflite --batch 16 --epochs 3 --lr 3e-4 -o flowers.safetensors\n  mnv2 train --data flowers/train --val flowers/val --width 0.5 --resolution 128 --optimizer rmsprop --lr 0.015 --schedule exponential -o scratch.safetensors",
        allow_negative_numbers = true
    )]
    Train(TrainArgs),
    /// Top-1 / top-5 accuracy and the confusion matrix on an image folder.
    #[command(
        after_help = "Examples:\n  mnv2 eval --model flowers.safetensors --data flowers/val\n  mnv2 eval --model flowers.safetensors --data flowers/val --precision f32 --json",
        allow_negative_numbers = true
    )]
    Eval(EvalArgs),
    /// Intersection-over-union of one class against binary ground-truth masks.
    #[command(name = "eval-seg")]
    #[command(
        after_help = "Examples:\n  mnv2 eval-seg --images ../shared/datasets/PennFudanPed/PNGImages --masks ../shared/datasets/PennFudanPed/PedMasks --class 15",
        allow_negative_numbers = true
    )]
    EvalSeg(EvalSegArgs),
    /// Serve models over HTTP: classify, segment and detect endpoints, dynamic batching, metrics, a web page.
    #[command(
        after_help = "Examples:\n  mnv2 serve\n  mnv2 serve --model cls=../shared/models/mobilenet_v2_1.0_224_quant.tflite --addr 0.0.0.0:8080\n  curl --data-binary @../shared/images/cat.bmp -H 'Content-Type: image/bmp' http://127.0.0.1:8080/v1/models/cls/classify",
        allow_negative_numbers = true
    )]
    Serve(ServeArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// A model to serve as NAME=PATH (or PATH, named after the file); repeat for several. Default: the classifier, segmenter and detector in ../shared/models as cls, seg and det.
    #[arg(long = "model")]
    pub models: Vec<mnv2_serve::ModelSpec>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Engine worker threads per model instance (0: the cores shared out among the instances);
    /// with 1, each instance's worker also decodes its batch's images.
    #[arg(long, default_value_t = 0, value_parser = crate::values::threads)]
    pub threads: usize,
    /// Engines per model, each running batches of its own on the same weights (0: one per core,
    /// up to 16, the most throughput under load). With several, a request that comes while
    /// every engine is idle runs on one more engine of all their threads.
    #[arg(long, default_value_t = 0)]
    pub instances: usize,
    /// Arithmetic: auto (int8 for quantized models), f32 or int8.
    #[arg(long, default_value = "auto")]
    pub precision: mnv2::Precision,
    /// Most requests one engine batch gathers.
    #[arg(long, default_value_t = 8, value_parser = crate::values::at_least_one)]
    pub max_batch: usize,
    /// Milliseconds the first request of a batch waits for others.
    #[arg(long, default_value_t = 2)]
    pub max_wait_ms: u64,
    /// Requests waiting per model; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = 64, value_parser = crate::values::at_least_one)]
    pub queue: usize,
    /// Largest request body in bytes (K/M/G suffixes); larger ones are answered 413 unread.
    #[arg(long, default_value = "16M", value_parser = crate::values::bytes)]
    pub max_body: u64,
    /// Seconds a client has to send its request headers.
    #[arg(long, default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds a client has to send its request body (408 after).
    #[arg(long, default_value_t = 30)]
    pub body_timeout: u64,
    /// Connections held at once; more wait to be accepted.
    #[arg(long, default_value_t = 2048, value_parser = crate::values::at_least_one)]
    pub max_connections: usize,
}

#[derive(Args)]
pub struct InfoArgs {
    /// Width multiplier (0.35 to 1.4 in the published family).
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,
    /// Input resolution in pixels.
    #[arg(long, default_value_t = 224)]
    pub resolution: u32,
    /// Number of classes (1001: ImageNet with background).
    #[arg(long, default_value_t = 1001)]
    pub classes: u32,
    /// Describe this model file's architecture instead.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// classify (paper Table 2), segment (Mobile DeepLabv3 at output stride 16; use
    /// --classes 21 --resolution 513 for the PASCAL VOC release) or detect (SSDLite; --classes
    /// counts object classes without background: --classes 90 --resolution 300 for COCO).
    #[arg(long, default_value = "classify")]
    pub task: String,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ClassifyArgs {
    /// Model file (default: $MNV2_MODEL, then mobilenet_v2_1.0_224_quant.tflite in
    /// $MNV2_MODEL_DIR, ./models, ../shared/models).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Labels file, one per line (default: the labels inside the model).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// How many classes to show per image.
    #[arg(long, default_value_t = 5, value_parser = crate::values::at_least_one)]
    pub top: usize,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0, value_parser = crate::values::threads)]
    pub threads: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 8, value_parser = crate::values::at_least_one)]
    pub batch: usize,
    /// Fraction of each side kept by the central crop.
    #[arg(long, default_value_t = 0.875, value_parser = crate::values::crop)]
    pub crop: f32,
    /// Image to input: auto (the model's: crop-resize for TensorFlow models, resize-crop for
    /// PyTorch ones), crop-resize (central crop, then resize: TF-slim) or resize-crop (shorter
    /// side to size / crop, then the central crop: torchvision)
    #[arg(long, default_value = "auto", value_parser = crate::values::preprocess)]
    pub preprocess: crate::values::PreprocessChoice,
    /// Arithmetic: auto (int8 for quantized models), f32 or int8.
    #[arg(long, default_value = "auto")]
    pub precision: mnv2::Precision,
    /// Image files or directories (walked recursively).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Args)]
pub struct RunArgs {
    /// Model file.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Input tensor: .npy (float32 real values NHWC, or NCHW [n, 3, S, S] as PyTorch lays them out; or uint8 bytes) or .png (its raw RGB bytes).
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the output tensor (.npy).
    #[arg(long)]
    pub output: PathBuf,
    /// Arithmetic: auto (int8 for quantized models), f32 or int8.
    #[arg(long, default_value = "auto")]
    pub precision: mnv2::Precision,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0, value_parser = crate::values::threads)]
    pub threads: usize,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The classifier (any file mnv2 loads). ONNX files are float32 (quantized weights written
    /// dequantized); TFLite files keep a quantized model's integers and quantization.
    #[arg(long)]
    pub model: PathBuf,
    /// The file to write; its extension picks the format (.onnx or .tflite).
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Args)]
pub struct QuantizeArgs {
    /// The float (or quantized, then dequantized and quantized again) classifier.
    #[arg(long)]
    pub model: PathBuf,
    /// Calibration images: a folder (walked recursively; class sub-folders welcome).
    #[arg(long)]
    pub images: PathBuf,
    /// How many of them, spread evenly over the folder's sorted listing.
    #[arg(long, default_value_t = 200)]
    pub count: usize,
    /// Fraction of each side kept by the central crop, as the model is evaluated.
    #[arg(long, default_value_t = 0.875, value_parser = crate::values::crop)]
    pub crop: f32,
    /// The int8 model (mnv2 safetensors; the int8 engine runs it).
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Model file.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Arithmetic: auto (int8 for quantized models), f32 or int8.
    #[arg(long, default_value = "auto")]
    pub precision: mnv2::Precision,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 1, value_parser = crate::values::threads)]
    pub threads: usize,
    /// Images per inference.
    #[arg(long, default_value_t = 1, value_parser = crate::values::at_least_one)]
    pub batch: usize,
    /// Timed iterations.
    #[arg(long, default_value_t = 50, value_parser = crate::values::at_least_one)]
    pub iters: usize,
    /// Prepare the input from this image (default: a fixed pseudo-random pattern; segmentation's
    /// argmax depends on the picture, so give segmenters a real one).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Time from the image file's bytes: decoding, the task's preprocessing and post-processing
    /// included (needs --image).
    #[arg(long)]
    pub end_to_end: bool,
    /// After the timing, print each step's time (the minimum over --iters more runs) and share:
    /// stem, every block with its shapes, head, pooling, classifier or task head (batch 1).
    #[arg(long)]
    pub profile: bool,
    /// Untimed iterations first.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct SegmentArgs {
    /// Segmentation model (default: deeplabv3_mnv2_pascal_quant.tflite in $MNV2_MODEL_DIR,
    /// ./models, ../shared/models).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where to write <name>.mask.png and <name>.overlay.png.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Print per image the fraction of pixels of each class present, one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Labels file (default: the PASCAL VOC classes for 21-class models).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Arithmetic: auto (int8 for quantized models), f32 or int8.
    #[arg(long, default_value = "auto")]
    pub precision: mnv2::Precision,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0, value_parser = crate::values::threads)]
    pub threads: usize,
    /// Image files or directories (walked recursively).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Args)]
pub struct DetectArgs {
    /// Detection model: a TensorFlow Object Detection API frozen SSDLite graph or an mnv2
    /// safetensors detector (default: ssdlite_mobilenet_v2_pedestrian_frozen.pb in
    /// $MNV2_MODEL_DIR, ./models, ../shared/models).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Boxes with a lower score are not drawn or printed.
    #[arg(long, default_value_t = 0.3, value_parser = crate::values::probability)]
    pub score_threshold: f32,
    /// Where to write <name>.boxes.png.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// One JSON object per image: {"path", "detections": [{"box": [x0, y0, x1, y1], "label",
    /// "class", "score"}]}, boxes in original-image pixels.
    #[arg(long)]
    pub json: bool,
    /// Labels file: one object class name per line (a leading "background" line is allowed).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0, value_parser = crate::values::threads)]
    pub threads: usize,
    /// Image files or directories (walked recursively).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Args)]
pub struct TrainDetArgs {
    /// Dataset: a PennFudan-format folder or a COCO JSON file.
    #[arg(long)]
    pub data: PathBuf,
    /// Image folder for a COCO JSON file (default: the JSON file's folder).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Fraction of the images held out for evaluation (their names go to OUT.holdout.txt, for
    /// `mnv2 eval-det --subset`).
    #[arg(long, default_value_t = 0.2, value_parser = crate::values::fraction)]
    pub holdout: f32,
    /// Start from an ImageNet classifier's backbone (default: mobilenet_v2_1.0_224_quant.tflite,
    /// dequantized; the head starts at random) or from a detector (fine-tuning; a different class
    /// count re-initialises the class predictors).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Input resolution of the detector.
    #[arg(long, default_value_t = 300)]
    pub resolution: u32,
    /// Epochs to train (the schedule spans all of them).
    #[arg(long, default_value_t = 30, value_parser = crate::values::at_least_one)]
    pub epochs: usize,
    /// Images per training step.
    #[arg(long, default_value_t = 8, value_parser = crate::values::at_least_one)]
    pub batch: usize,
    /// Zoom-out augmentation (SSD paper): half the images are placed on a grey canvas up to this
    /// many times their size before the random crop, so small objects are seen (1: off).
    #[arg(long, default_value_t = 2.0, value_parser = crate::values::zoom)]
    pub zoom_out: f32,
    /// Sigmoid focal loss (alpha 0.25, gamma 2) instead of hard negative mining.
    #[arg(long)]
    pub focal: bool,
    #[command(flatten)]
    pub run: TrainRunArgs,
}

#[derive(Args)]
pub struct EvalDetArgs {
    /// Detection model (default: the pedestrian SSDLite graph, as for `detect`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Dataset: a PennFudan-format folder (PNGImages/ + Annotation/) or a COCO JSON file
    /// (images resolved relative to it, or to --images).
    #[arg(long)]
    pub data: PathBuf,
    /// Image folder for a COCO JSON file (default: the JSON file's folder).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Evaluate only images whose file name is listed (one per line), e.g. a held-out split.
    #[arg(long)]
    pub subset: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0, value_parser = crate::values::threads)]
    pub threads: usize,
}

#[derive(Args)]
pub struct EvalSegArgs {
    /// Segmentation model.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Folder of images.
    #[arg(long)]
    pub images: PathBuf,
    /// Folder of masks: <name>_mask.png or <name>.png for image <name>.*; pixels > 0 are the class.
    #[arg(long)]
    pub masks: PathBuf,
    /// The class id scored (15 is person in PASCAL VOC).
    #[arg(long)]
    pub class: u8,
    /// Arithmetic: auto (int8 for quantized models), f32 or int8.
    #[arg(long, default_value = "auto")]
    pub precision: mnv2::Precision,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0, value_parser = crate::values::threads)]
    pub threads: usize,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Training images, one sub-folder per class.
    #[arg(long)]
    pub data: PathBuf,
    /// Validation images, the same class sub-folders.
    #[arg(long)]
    pub val: PathBuf,
    /// Start from this model (any model mnv2 loads); its classifier is replaced.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Train only the classifier on the frozen backbone's features (a linear probe).
    #[arg(long, requires = "init")]
    pub freeze_backbone: bool,
    /// Without --init: train from scratch at this width multiplier ...
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,
    /// ... and this input resolution.
    #[arg(long, default_value_t = 224)]
    pub resolution: u32,
    /// Epochs to train (the schedule spans all of them).
    #[arg(long, default_value_t = 15, value_parser = crate::values::at_least_one)]
    pub epochs: usize,
    /// Images per training step.
    #[arg(long, default_value_t = 32, value_parser = crate::values::at_least_one)]
    pub batch: usize,
    /// Label smoothing of the cross-entropy targets.
    #[arg(long, default_value_t = 0.1, value_parser = crate::values::fraction)]
    pub label_smoothing: f32,
    /// Smallest random crop, as a fraction of the image's area (default: 0.08 from scratch, as
    /// the paper; 0.35 when fine-tuning with --init).
    #[arg(long, value_parser = crate::values::area_fraction)]
    pub min_crop_area: Option<f32>,
    /// Data-parallel across the ranks of an MPI job (`mpirun -np N mnv2 train --mpi ...`): each
    /// rank takes an equal shard of every batch, gradients are summed across ranks, rank 0 writes
    /// the files. Needs mnv2 built with `--features mpi`.
    #[arg(long, conflicts_with = "freeze_backbone")]
    pub mpi: bool,
    #[command(flatten)]
    pub run: TrainRunArgs,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Model file (default: as for `classify`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Images, one sub-folder per class named as the model's labels.
    #[arg(long)]
    pub data: PathBuf,
    /// Arithmetic: auto (int8 for quantized models), f32 or int8.
    #[arg(long, default_value = "auto")]
    pub precision: mnv2::Precision,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0, value_parser = crate::values::threads)]
    pub threads: usize,
    /// One JSON object: images, top1, top5, classes, confusion.
    #[arg(long)]
    pub json: bool,
}

/// The options every training command takes.
#[derive(Args)]
pub struct TrainRunArgs {
    /// rmsprop (the paper's, TensorFlow form), sgd or adamw.
    #[arg(long, default_value = "adamw", value_parser = ["rmsprop", "sgd", "adamw"])]
    pub optimizer: String,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = crate::values::positive)]
    pub lr: f32,
    /// Learning-rate schedule: cosine, exponential (0.98 per epoch) or constant.
    #[arg(long, default_value = "cosine", value_parser = ["cosine", "exponential", "constant"])]
    pub schedule: String,
    /// Weight decay (not applied to batch-norm parameters and biases).
    #[arg(long, default_value_t = 4e-5, value_parser = crate::values::non_negative)]
    pub weight_decay: f32,
    /// Keep an exponential moving average of the weights with this decay per step (the paper:
    /// 0.9999), and evaluate and save it instead of the raw weights (not for a linear probe).
    #[arg(long, value_parser = crate::values::decay)]
    pub ema: Option<f32>,
    /// Seed of the shuffling, augmentation and initialisation (runs are bit-reproducible for a
    /// seed and thread count).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads of the training step and of evaluation (0: one per core).
    #[arg(long, default_value_t = 0, value_parser = crate::values::threads)]
    pub threads: usize,
    /// The trained model (safetensors); it and the training state are written after every epoch.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Continue from the training state beside --output (refused if the training options differ
    /// from those it was made with, unless --allow-changes).
    #[arg(long)]
    pub resume: bool,
    /// With --resume: continue even though training options (learning rate, batch, epochs, ...)
    /// differ from the state's; the new values apply from here on.
    #[arg(long, requires = "resume")]
    pub allow_changes: bool,
    /// Stop after this many epochs of the planned --epochs (the schedule stays that of the whole
    /// run; `--resume` continues it).
    #[arg(long, value_parser = crate::values::at_least_one)]
    pub stop_after: Option<usize>,
}

impl TrainRunArgs {
    /// The library's settings, with the command's `epochs` and `batch`.
    pub fn settings(self, epochs: usize, batch: usize) -> mnv2::training::RunSettings {
        mnv2::training::RunSettings {
            output: self.output,
            epochs,
            batch,
            optimizer: self.optimizer,
            lr: self.lr,
            schedule: self.schedule,
            weight_decay: self.weight_decay,
            ema: self.ema,
            seed: self.seed,
            threads: self.threads,
            resume: self.resume,
            allow_changes: self.allow_changes,
            stop_after: self.stop_after,
            processes: Default::default(),
        }
    }
}
