//! The handle userdata that Lua holds, and the methods every kind shares.
//!
//! A handle is only an id (slab key + generation) and a pointer to the loop state, so
//! holding one never keeps a socket alive: `close()` does that, as in libuv.
//!
//! Each kind is a userdata type of its own, with its own metatable (`uv_tcp_t`,
//! `uv_timer_t`, ...), as in luv: its file declares it with [`luv_kind!`] and gives it
//! this file's methods, the stream methods if it is a stream (stream.rs), and its own.

use mlua::{AnyUserData, Function, Lua, MetaMethod, Result, UserData, UserDataMethods, Value};

use crate::event_loop::handle::HandleId;
use crate::event_loop::SharedState;

pub struct LuvHandle {
    pub id: HandleId,
    pub kind: &'static str,
    pub state: SharedState,
}

impl LuvHandle {
    /// Raises the "closed handle" misuse error, naming the method.
    pub fn closed(&self, method: &str) -> mlua::Error {
        mlua::Error::runtime(format!("{}:{method}: handle is closed", self.kind))
    }

    /// Raises the "closed handle" error if the handle is closed (for methods that
    /// start watching, where a closed handle is misuse).
    pub fn ensure_open(&self, method: &str) -> Result<()> {
        if self.state.borrow().handles().get(self.id).is_none() {
            return Err(self.closed(method));
        }
        Ok(())
    }
}

/// A kind of handle: a userdata type that wraps a [`LuvHandle`].
pub trait Luv: UserData + Sized + 'static {
    /// luv's name for the kind (`handle_get_type`).
    const KIND: &'static str;
    fn handle(&self) -> &LuvHandle;
    fn wrap(h: LuvHandle) -> Self;

    /// The Lua userdata for handle `id`.
    fn create(lua: &Lua, state: &SharedState, id: HandleId) -> Result<AnyUserData> {
        lua.create_userdata(Self::wrap(LuvHandle {
            id,
            kind: Self::KIND,
            state: state.clone(),
        }))
    }
}

/// Declares a handle kind's userdata type.
macro_rules! luv_kind {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        pub struct $name(pub $crate::bindings::handle::LuvHandle);

        impl $crate::bindings::handle::Luv for $name {
            const KIND: &'static str = $kind;
            fn handle(&self) -> &$crate::bindings::handle::LuvHandle {
                &self.0
            }
            fn wrap(h: $crate::bindings::handle::LuvHandle) -> Self {
                $name(h)
            }
        }
    };
}
pub(crate) use luv_kind;

/// The methods of every handle: close, is_active, is_closing, ref, unref, has_ref,
/// get_type, and `id` (slab key, generation) for the raw functions of fast.rs.
pub fn add_methods<T: Luv, M: UserDataMethods<T>>(methods: &mut M) {
    methods.add_method("close", |lua, this, cb: Option<Function>| {
        // Closing a closing handle is misuse in libuv; here it is a quiet no-op,
        // because Lua code often closes in both an error path and a finally path.
        let cb = cb.map(|f| lua.create_registry_value(f)).transpose()?;
        let this = this.handle();
        this.state.borrow_mut().close(this.id, cb);
        Ok(())
    });
    methods.add_method("is_active", |_, this, ()| {
        let this = this.handle();
        Ok(this.state.borrow().handles().is_active(this.id))
    });
    methods.add_method("is_closing", |_, this, ()| {
        let this = this.handle();
        Ok(this.state.borrow().handles().get(this.id).is_none())
    });
    methods.add_method("ref", |_, this, ()| {
        let this = this.handle();
        this.state.borrow_mut().handles_mut().set_ref(this.id, true);
        Ok(())
    });
    methods.add_method("unref", |_, this, ()| {
        let this = this.handle();
        this.state
            .borrow_mut()
            .handles_mut()
            .set_ref(this.id, false);
        Ok(())
    });
    methods.add_method("has_ref", |_, this, ()| {
        let this = this.handle();
        Ok(this.state.borrow().handles().has_ref(this.id))
    });
    methods.add_method("get_type", |_, _, ()| Ok(T::KIND));
    methods.add_method("id", |_, this, ()| {
        let id = this.handle().id;
        Ok((id.key, id.gen))
    });
    methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
        let id = this.handle().id;
        Ok(format!("uv_{}_t: {}:{}", T::KIND, id.key, id.gen))
    });
    methods.add_meta_method(MetaMethod::Eq, |_, this, other: Value| {
        Ok(match other {
            // (Handles of two kinds are never the same handle.)
            Value::UserData(ud) => ud
                .borrow::<T>()
                .is_ok_and(|o| o.handle().id == this.handle().id),
            _ => false,
        })
    });
}
