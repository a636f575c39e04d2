//! The one interface the task heads call, whichever arithmetic a network runs in: a compiled
//! [`Plan`] (fp32 or int8) and a [`Runner`] holding it with the session of the last batch size.

use crate::EngineError;
use mnv2_kernels::Isa;

/// A network compiled for one arithmetic.
pub trait Plan {
    /// The element of inputs and outputs: real values (fp32), or TFLite's quantized bytes (int8).
    type Elem: Copy + Default;
    /// Activation memory for one batch size.
    type Session: Session;
    /// Allocates the activation memory for batches of `batch` images (refused beyond the memory limit).
    fn session(&self, batch: usize) -> Result<Self::Session, EngineError>;
    /// Runs a batch: `input` is batch x H x W x 3, `output` batch x [`Plan::output_len`].
    fn run(
        &self,
        session: &mut Self::Session,
        input: &[Self::Elem],
        output: &mut [Self::Elem],
    ) -> Result<(), EngineError>;
    /// Segmentation models: each image's class map (argmax of the upsampled scores).
    fn run_segment(
        &self,
        session: &mut Self::Session,
        input: &[Self::Elem],
        classes: &mut [u8],
    ) -> Result<(), EngineError>;
    /// Output values per image.
    fn output_len(&self) -> usize;
    /// The instruction-set level the kernels run at.
    fn isa(&self) -> Isa;
    /// Another plan on the same compiled network (weights shared) with workers of its own.
    fn instance(&self) -> Result<Self, EngineError>
    where
        Self: Sized;
}

/// What every session tells.
pub trait Session {
    /// The batch size it was made for.
    fn batch(&self) -> usize;
    /// Bytes of activation memory it holds.
    fn arena_bytes(&self) -> usize;
}

/// Implements [`Plan`] for `$engine` and [`Session`] for `$session` by the inherent methods of
/// the same names (`session`, `run`, `arena_bytes`) and the `classes`, `isa` and `batch` fields;
/// and the segmentation entry points of both engines, by the engine's `upsample()`, `threads`
/// and the session's `scores`.
macro_rules! plan_by_inherent_methods {
    ($engine:ident, $session:ident, $elem:ty) => {
        impl $engine {
            /// For segmentation models: the (height, width) of the class map `run_segment` writes.
            pub fn class_map_size(&self) -> Option<(usize, usize)> {
                self.upsample().map(UpsampleArgmax::output)
            }

            /// Runs a segmentation model and writes each image's class map (argmax of the
            /// upsampled scores; in int8 as TFLite's RESIZE_BILINEAR and ARG_MAX compute it),
            /// batch x height x width bytes.
            pub fn run_segment(
                &self,
                s: &mut $session,
                input: &[$elem],
                classes: &mut [u8],
            ) -> Result<(), EngineError> {
                let run = |s: &mut $session, scores: &mut [$elem]| self.run(s, input, scores);
                crate::segment(&self.threads, self.upsample(), s, |s| &mut s.scores, run, classes)
            }
        }

        impl crate::Plan for $engine {
            type Elem = $elem;
            type Session = $session;
            fn session(&self, batch: usize) -> Result<$session, EngineError> {
                $engine::session(self, batch)
            }
            fn run(&self, session: &mut $session, input: &[$elem], output: &mut [$elem]) -> Result<(), EngineError> {
                $engine::run(self, session, input, output)
            }
            fn run_segment(&self, s: &mut $session, input: &[$elem], classes: &mut [u8]) -> Result<(), EngineError> {
                $engine::run_segment(self, s, input, classes)
            }
            fn output_len(&self) -> usize {
                self.classes
            }
            fn isa(&self) -> Isa {
                self.isa
            }
            fn instance(&self) -> Result<$engine, EngineError> {
                $engine::instance(self)
            }
        }

        impl crate::Session for $session {
            fn batch(&self) -> usize {
                self.batch
            }
            fn arena_bytes(&self) -> usize {
                $session::arena_bytes(self)
            }
        }
    };
}
pub(crate) use plan_by_inherent_methods;

/// A plan with the session of the last batch size run (made again when the size changes).
pub struct Runner<P: Plan> {
    pub plan: P,
    session: Option<P::Session>,
}

impl<P: Plan> Runner<P> {
    pub fn new(plan: P) -> Runner<P> {
        Runner { plan, session: None }
    }

    /// The session for batches of `batch` images, made now if the last one was for another size.
    pub fn reserve(&mut self, batch: usize) -> Result<&mut P::Session, EngineError> {
        match &mut self.session {
            Some(s) if s.batch() == batch => {}
            slot => *slot = Some(self.plan.session(batch)?),
        }
        Ok(self.session.as_mut().expect("made above"))
    }

    /// A runner on another instance of the plan ([`Plan::instance`]), with no session yet.
    pub fn instance(&self) -> Result<Runner<P>, EngineError> {
        Ok(Runner::new(self.plan.instance()?))
    }

    /// The session of the last run, if any.
    pub fn session(&self) -> Option<&P::Session> {
        self.session.as_ref()
    }

    /// Bytes of activation memory held (0 before the first run).
    pub fn arena_bytes(&self) -> usize {
        self.session.as_ref().map_or(0, Session::arena_bytes)
    }

    /// Runs `batch` inputs (batch x H x W x 3 elements) and returns batch x output elements.
    pub fn run(&mut self, input: &[P::Elem], batch: usize) -> Result<Vec<P::Elem>, EngineError> {
        if batch == 0 {
            return Ok(Vec::new());
        }
        // The session first: it refuses a batch too large for memory before the output is made.
        self.reserve(batch)?;
        let mut out = vec![P::Elem::default(); batch * self.plan.output_len()];
        let (plan, session) = (&self.plan, self.session.as_mut().expect("reserved above"));
        plan.run(session, input, &mut out)?;
        Ok(out)
    }

    /// Segmentation: the class maps of `batch` inputs into `classes` (batch x height x width).
    pub fn run_segment(&mut self, input: &[P::Elem], batch: usize, classes: &mut [u8]) -> Result<(), EngineError> {
        self.reserve(batch)?;
        let (plan, session) = (&self.plan, self.session.as_mut().expect("reserved above"));
        plan.run_segment(session, input, classes)
    }
}
