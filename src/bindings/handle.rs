//! The handle userdata that Lua holds, and the methods every kind shares.
//!
//! A `LuvHandle` is only an id (slab key + generation) and a pointer to the loop state,
//! so holding one never keeps a socket alive: `close()` does that, as in libuv.

use mlua::{AnyUserData, Function, Lua, MetaMethod, Result, UserData, UserDataMethods, Value};

use crate::event_loop::handle::HandleId;
use crate::event_loop::SharedState;

pub struct LuvHandle {
    pub id: HandleId,
    pub kind: &'static str,
    pub state: SharedState,
}

impl LuvHandle {
    pub fn create(
        lua: &Lua,
        state: &SharedState,
        id: HandleId,
        kind: &'static str,
    ) -> Result<AnyUserData> {
        lua.create_userdata(LuvHandle {
            id,
            kind,
            state: state.clone(),
        })
    }

    /// Raises the "closed handle" misuse error, naming the method.
    pub fn closed(&self, method: &str) -> mlua::Error {
        mlua::Error::runtime(format!("{}:{method}: handle is closed", self.kind))
    }
}

impl UserData for LuvHandle {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("close", |lua, this, cb: Option<Function>| {
            // Closing a closing handle is misuse in libuv; here it is a quiet no-op,
            // because Lua code often closes in both an error path and a finally path.
            let cb = cb.map(|f| lua.create_registry_value(f)).transpose()?;
            this.state.borrow_mut().close(this.id, cb);
            Ok(())
        });
        methods.add_method("is_active", |_, this, ()| {
            Ok(this.state.borrow().handles.is_active(this.id))
        });
        methods.add_method("is_closing", |_, this, ()| {
            let st = this.state.borrow();
            Ok(st.handles.get(this.id).is_none())
        });
        methods.add_method("ref", |_, this, ()| {
            this.state.borrow_mut().handles.set_ref(this.id, true);
            Ok(())
        });
        methods.add_method("unref", |_, this, ()| {
            this.state.borrow_mut().handles.set_ref(this.id, false);
            Ok(())
        });
        methods.add_method("has_ref", |_, this, ()| {
            Ok(this.state.borrow().handles.has_ref(this.id))
        });
        methods.add_method("get_type", |_, this, ()| Ok(this.kind));
        // The handle's id (slab key, generation), for the raw functions of fast.rs.
        methods.add_method("id", |_, this, ()| Ok((this.id.key, this.id.gen)));
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!(
                "uv_{}_t: {}:{}",
                this.kind, this.id.key, this.id.gen
            ))
        });
        methods.add_meta_method(MetaMethod::Eq, |_, this, other: Value| {
            Ok(match other {
                Value::UserData(ud) => ud.borrow::<LuvHandle>().is_ok_and(|o| o.id == this.id),
                _ => false,
            })
        });
        super::timer::add_methods(methods);
        super::tcp::add_methods(methods);
    }
}
