//! `mart paper table5` and `mart paper figure1`: the runs that depend on earlier runs (the
//! pseudo-labels of Table 5, the subsets of Figure 1) are configured from what those produced,
//! checked here against independent recomputations; a second call trains and labels nothing.
//! Every run is shrunk to one epoch of two batches, so the file takes seconds.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use mart::commands::load_model;
use mart::eval::predict;
use mart::paper::{self, Budget, Experiment, PaperOutcome, Recipe, Session, UnlabeledSource};
use mart::train::config::TrainConfig;
use mart::train::subset::Treatment;
use tensor::Device;

/// The quick recipe shrunk to one epoch of two batches of 64 and a 2-step training attack,
/// judged on 20 test images; Table 5 labels 64 unlabelled digits.
fn tiny_recipe() -> Recipe {
    let mut recipe = Recipe::new(Budget::Quick, "mnist-sample", 0).unwrap();
    recipe.map_configs(|c| {
        c.epochs = 1;
        c.eps_ramp_epochs = 1;
        c.train_limit = Some(128);
        c.batch_size = 64;
        c.attack_steps = 2;
        c.eval_limit = Some(20);
        c.final_eval_limit = Some(20);
    });
    recipe.final_images = Some(20);
    recipe.unlabeled = UnlabeledSource::Split(64);
    recipe
}

fn session(out: &Path, recipe: Recipe) -> Session {
    Session::new(
        out.to_path_buf(),
        None,
        Device::Cpu,
        recipe,
        Arc::new(AtomicBool::new(false)),
        false,
    )
}

/// The fields of one CSV line, with RFC 4180 quoting.
fn csv_fields(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match (c, quoted) {
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(csv_fields)
        .collect()
}

/// The configuration of the run folder `dir`.
fn config_of(dir: &Path) -> TrainConfig {
    serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap()
}

/// The class each image of `images` gets from the checkpoint, by a plain loop over the logits.
fn classes(checkpoint: &Path, images: &tensor::Tensor<f32>) -> Vec<u32> {
    let model = load_model("smallcnn", checkpoint, Device::Cpu).unwrap();
    let logits = predict(&*model, images).to_vec();
    logits
        .chunks(10)
        .map(|row| {
            (0..10)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                .unwrap() as u32
        })
        .collect()
}

#[test]
fn figure1_retrains_on_the_subsets_the_standard_model_picks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let first = session(out, tiny_recipe());
    let PaperOutcome::Written { files } = paper::run(Experiment::Figure1, &first).unwrap() else {
        panic!("figure1 did not finish");
    };
    assert_eq!(
        files,
        [
            out.join("figure1.md"),
            out.join("figure1.csv"),
            out.join("figure1.svg")
        ]
    );
    let log = first.log.borrow().clone();
    assert_eq!(log.started.len(), 7, "{:?}", log.started);
    let standard = &Experiment::Figure1.runs(&first.recipe)[0];
    assert_eq!(log.started[0], standard.name());

    // S- is what the standard model's last checkpoint misclassifies among its 128 training
    // digits, S+ as many that it classifies correctly.
    let train = mart::data::load("mnist-sample", None).unwrap().train;
    let images = train.images.slice(0, 0, 128);
    let predicted = classes(&first.run_dir(standard).join("last.safetensors"), &images);
    let truth = train.labels.data();
    let wrong: Vec<usize> = (0..128).filter(|&i| predicted[i] != truth[i]).collect();
    let mut seen = Vec::new();
    for name in &log.started[1..] {
        let config = config_of(&out.join("runs").join(name));
        let subset = config.subset.expect("a retrained run has a subset");
        let minus = subset.name == "S-";
        assert_eq!(name.contains("sminus"), minus);
        assert!(!subset.examples.is_empty() && subset.examples.len() <= 64);
        for &i in &subset.examples {
            assert_eq!(wrong.contains(&i), minus, "{} holds {i}", subset.name);
        }
        if wrong.len() <= 64 && minus {
            assert_eq!(subset.examples, wrong, "S- is every misclassified digit");
        }
        seen.push((subset.name.clone(), subset.treatment, subset.examples));
    }
    let n = seen[0].2.len();
    assert!(seen.iter().all(|s| s.2.len() == n), "|S+| = |S-|");
    let treatments: Vec<(String, Treatment)> = seen.iter().map(|s| (s.0.clone(), s.1)).collect();
    for (i, t) in [
        Treatment::NotPerturbed,
        Treatment::Fgsm,
        Treatment::Regularized,
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(treatments[2 * i], ("S-".into(), t));
        assert_eq!(treatments[2 * i + 1], ("S+".into(), t));
    }

    let rows = read_csv(&out.join("figure1.csv"));
    assert_eq!(
        rows[0][..5],
        [
            "variant",
            "natural",
            "natural_paper",
            "pgd20_best",
            "pgd20_best_paper"
        ]
    );
    let labels: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        labels,
        [
            "(a) standard adversarial training",
            "(a) S- not perturbed",
            "(a) S+ not perturbed",
            "(b) standard adversarial training",
            "(b) S- perturbed by FGSM",
            "(b) S+ perturbed by FGSM",
            "(c) standard adversarial training",
            "(c) S- with the regularised CE",
            "(c) S+ with the regularised CE",
        ]
    );
    assert!(
        rows[1..].iter().all(|r| r[2].is_empty()),
        "no published numbers"
    );
    let svg = std::fs::read_to_string(out.join("figure1.svg")).unwrap();
    for text in [
        "(a) Not perturb",
        "(b) Inner maximization",
        "(c) Outer minimization",
        "S- perturbed by FGSM",
        "standard adversarial training",
    ] {
        assert!(svg.contains(text), "{text} missing from the SVG");
    }
    let md = std::fs::read_to_string(out.join("figure1.md")).unwrap();
    assert!(
        md.contains(&format!("misclassifies {} of the 128", wrong.len())),
        "{md}"
    );

    // Again: the subsets are read back, nothing is trained.
    let again = session(out, tiny_recipe());
    paper::run(Experiment::Figure1, &again).unwrap();
    let log = again.log.borrow().clone();
    assert!(log.started.is_empty() && log.resumed.is_empty());
    assert_eq!(log.reused.len(), 7);
}

#[test]
fn table5_trains_on_the_pseudo_labels_of_the_natural_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let first = session(out, tiny_recipe());
    paper::run(Experiment::Table5, &first).unwrap();
    let log = first.log.borrow().clone();
    assert_eq!(log.started.len(), 5, "{:?}", log.started);
    let labeller = &Experiment::Table5.runs(&first.recipe)[0];
    assert!(labeller.name().starts_with("natural-labeller-"));
    let labeller_dir = first.run_dir(labeller).canonicalize().unwrap();

    // The unlabelled digits are training digits 128..192, labelled by the natural model.
    let train = mart::data::load("mnist-sample", None).unwrap().train;
    let unlabelled = train.images.slice(0, 128, 192);
    let want = classes(&labeller_dir.join("last.safetensors"), &unlabelled);
    let labels_file = labeller_dir.join("pseudo-labels-idx1-ubyte");
    let images_file = labeller_dir.join("unlabeled-images-idx3-ubyte");
    assert_eq!(
        mart::data::load_labels(&labels_file).unwrap().to_vec(),
        want
    );
    assert_eq!(
        mart::data::load_images(&images_file).unwrap().to_vec(),
        unlabelled.to_vec()
    );
    let agreeing = (0..64)
        .filter(|&i| want[i] == train.labels.data()[128 + i])
        .count();

    for name in &log.started[3..] {
        let config = config_of(&out.join("runs").join(name));
        let semi = config.semi_supervised.expect("a semi-supervised run");
        assert_eq!(
            (semi.images, semi.pseudo_labels, semi.fraction),
            (images_file.clone(), labels_file.clone(), 0.5)
        );
        assert_eq!(config.train_limit, Some(128), "the labelled digits");
    }
    let rows = read_csv(&out.join("table5.csv"));
    assert_eq!(
        rows[0][..5],
        ["defense", "natural", "natural_paper", "fgsm", "fgsm_paper"]
    );
    let body: Vec<(&str, &str, &str)> = rows[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[2].as_str(), r[6].as_str()))
        .collect();
    assert_eq!(
        body,
        [
            ("MART, labelled images only", "", ""),
            ("semi-supervised MART", "86.30", "65.04"),
            ("TRADES, labelled images only", "", ""),
            ("RST (semi-supervised TRADES)", "89.70", "63.10"),
        ]
    );
    let md = std::fs::read_to_string(out.join("table5.md")).unwrap();
    assert!(
        md.contains(&format!("agree with the true labels on {agreeing} of 64")),
        "{md}"
    );

    // Again: nothing trained, the pseudo-labels not rewritten.
    let written = std::fs::metadata(&labels_file).unwrap().modified().unwrap();
    let again = session(out, tiny_recipe());
    paper::run(Experiment::Table5, &again).unwrap();
    assert!(again.log.borrow().started.is_empty());
    assert_eq!(again.log.borrow().reused.len(), 5);
    assert_eq!(
        std::fs::metadata(&labels_file).unwrap().modified().unwrap(),
        written
    );
}

#[test]
fn unlabelled_images_are_required_where_the_paper_used_them_and_refused_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let paper_recipe = Recipe::new(Budget::Paper, "mnist-sample", 0).unwrap();
    let err = paper::run(
        Experiment::Table5,
        &session(&dir.path().join("a"), paper_recipe.clone()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("pass --unlabeled FILE") && err.contains("500K"),
        "{err}"
    );
    assert!(!dir.path().join("a").exists(), "refused before any run");

    let file = dir.path().join("unlabelled-idx3-ubyte");
    std::fs::write(&file, b"images").unwrap();
    let err = Recipe::new(Budget::Quick, "mnist-sample", 0)
        .unwrap()
        .with_unlabeled(Some(file.clone()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--unlabeled is for --budget paper"), "{err}");
    let err = paper_recipe
        .clone()
        .with_unlabeled(Some(dir.path().join("missing")))
        .unwrap_err();
    assert!(format!("{err:#}").contains("missing"), "{err:#}");
    let with_file = paper_recipe.with_unlabeled(Some(file.clone())).unwrap();
    assert_eq!(
        with_file.unlabeled,
        UnlabeledSource::File(Some(file.canonicalize().unwrap()))
    );
    let err = paper::run(
        Experiment::Table2,
        &session(&dir.path().join("b"), with_file),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("used by table5 only"), "{err}");
}
