//! A request as a caller that names the policy engine's priority classes submits it: the
//! request and, optionally, the class whose value becomes its priority.

use serde::{Deserialize, Serialize};

use super::request::Request;
use super::scheduler::BatchScheduler;
use crate::error::Result;
use crate::names;

/// A request and the engine priority class (if any) that gives its priority when it is
/// added ([`BatchScheduler::submit`]); without a class the request's own priority holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub request: Request,
    pub priority_class: Option<String>,
}

impl Submission {
    /// Checks what does not depend on a scheduler: the request's fields
    /// ([`Request::validate`]) and the class name's grammar. The error names the field.
    pub fn validate(&self) -> Result<()> {
        self.request.validate()?;
        if let Some(class) = &self.priority_class {
            names::check_name("priority_class", class)?;
        }
        Ok(())
    }
}

impl From<Request> for Submission {
    fn from(request: Request) -> Self {
        Submission {
            request,
            priority_class: None,
        }
    }
}

impl BatchScheduler {
    /// Adds a submission: with its priority class's value as priority when it names one
    /// ([`BatchScheduler::add_in_class`]), as it is otherwise. On error nothing changes.
    pub fn submit(&mut self, s: Submission) -> Result<()> {
        s.validate()?;
        match s.priority_class {
            Some(class) => self.add_in_class(s.request, &class),
            None => self.add(s.request),
        }
    }
}
