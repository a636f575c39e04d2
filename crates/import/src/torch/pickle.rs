//! A restricted unpickler for PyTorch `state_dict` files: it runs no code. It knows only the
//! opcodes `torch.save` writes for a dictionary of tensors (protocol 2) and only four globals:
//! `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and the float and long storages.
//! Anything else (another global, `exec`-style reductions, unknown opcodes) is refused with the
//! offset and what was found, so a malicious pickle can do nothing but fail.

use std::collections::BTreeMap;

/// A storage reference: its key in the archive (`data/<key>`) and its element type.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: Dtype,
    pub numel: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    I64,
}

/// A tensor as the pickle describes it: a view into a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

/// The values a state_dict pickle builds.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Mark,
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    OrderedDict,
    RebuildTensor,
    FloatStorage,
    LongStorage,
}

/// Most memo entries and stack depth accepted (a MobileNetV2 state_dict uses ~3,000 memo slots).
const MAX_MEMO: usize = 1 << 20;
const MAX_STACK: usize = 1 << 16;

/// The tensors of a state_dict pickle, by name, in file order.
pub fn state_dict(data: &[u8]) -> Result<Vec<(String, TensorRef)>, String> {
    let mut p = Machine { data, pos: 0, stack: Vec::new(), memo: BTreeMap::new() };
    let top = p.run()?;
    let Value::Dict(items) = top else { return Err("the pickle is not a dictionary of tensors".into()) };
    items
        .into_iter()
        .map(|(k, v)| match (k, v) {
            (Value::Str(name), Value::Tensor(t)) => Ok((name, t)),
            (Value::Str(name), other) => Err(format!("{name} is not a tensor ({})", kind(&other))),
            (k, _) => Err(format!("a key that is not a string ({})", kind(&k))),
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Mark => "mark",
        Value::None => "None",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Str(_) => "str",
        Value::Tuple(_) => "tuple",
        Value::Dict(_) => "dict",
        Value::Global(_) => "global",
        Value::Storage(_) => "storage",
        Value::Tensor(_) => "tensor",
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: BTreeMap<u32, Value>,
}

impl Machine<'_> {
    fn run(&mut self) -> Result<Value, String> {
        loop {
            let at = self.pos;
            let op = self.take(1)?[0];
            if op == b'.' {
                return self.pop().map_err(|e| format!("pickle offset {at}: {e}"));
            }
            if !(self.literal(op)? || self.memo_op(op)? || self.structure(op)?) {
                return Err(format!("pickle offset {at}: refused opcode 0x{op:02x} (not one a state_dict uses)"));
            }
        }
    }

    /// Opcodes that push a value: constants, numbers, strings, the four globals.
    /// Returns whether `op` was one of them.
    fn literal(&mut self, op: u8) -> Result<bool, String> {
        let at = self.pos - 1;
        let err = |what: String| format!("pickle offset {at}: {what}");
        match op {
            0x80 => {
                let proto = self.take(1)?[0];
                if proto > 5 {
                    return Err(err(format!("protocol {proto}")));
                }
            }
            b'}' => self.push(Value::Dict(Vec::new()))?,
            b')' => self.push(Value::Tuple(Vec::new()))?,
            b'(' => self.push(Value::Mark)?,
            b'N' => self.push(Value::None)?,
            0x88 => self.push(Value::Bool(true))?,
            0x89 => self.push(Value::Bool(false))?,
            b'K' => {
                let v = self.take(1)?[0] as i64;
                self.push(Value::Int(v))?
            }
            b'M' => {
                let v = u16::from_le_bytes(self.array()?) as i64;
                self.push(Value::Int(v))?
            }
            b'J' => {
                let v = i32::from_le_bytes(self.array()?) as i64;
                self.push(Value::Int(v))?
            }
            0x8a => {
                let n = self.take(1)?[0] as usize;
                if n > 8 {
                    return Err(err(format!("a {n}-byte integer")));
                }
                let bytes = self.take(n)?;
                let mut v = [if bytes.last().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 }; 8];
                v[..n].copy_from_slice(bytes);
                self.push(Value::Int(i64::from_le_bytes(v)))?
            }
            b'X' => {
                let n = u32::from_le_bytes(self.array()?) as usize;
                let s = std::str::from_utf8(self.take(n)?)
                    .map_err(|_| err("a string that is not UTF-8".into()))?
                    .to_string();
                self.push(Value::Str(s))?
            }
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                let g = match (module.as_str(), name.as_str()) {
                    ("collections", "OrderedDict") => Global::OrderedDict,
                    ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensor,
                    ("torch", "FloatStorage") => Global::FloatStorage,
                    ("torch", "LongStorage") => Global::LongStorage,
                    _ => {
                        return Err(err(format!("refused global {module}.{name} (a state_dict uses only tensors)")));
                    }
                };
                self.push(Value::Global(g))?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The memo: store and fetch the top of the stack.
    /// Returns whether `op` was one of them.
    fn memo_op(&mut self, op: u8) -> Result<bool, String> {
        let at = self.pos - 1;
        let err = |what: String| format!("pickle offset {at}: {what}");
        match op {
            b'q' => {
                let k = self.take(1)?[0] as u32;
                self.put(k)?
            }
            b'r' => {
                let k = u32::from_le_bytes(self.array()?);
                self.put(k)?
            }
            b'h' => {
                let k = self.take(1)?[0] as u32;
                self.get(k).map_err(err)?
            }
            b'j' => {
                let k = u32::from_le_bytes(self.array()?);
                self.get(k).map_err(err)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Opcodes that build tuples, dictionaries, storages and tensors from the stack.
    /// Returns whether `op` was one of them.
    fn structure(&mut self, op: u8) -> Result<bool, String> {
        let at = self.pos - 1;
        let err = |what: String| format!("pickle offset {at}: {what}");
        match op {
            b't' => {
                let items = self.pop_mark().map_err(err)?;
                self.push(Value::Tuple(items))?
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return Err(err("tuple of an empty stack".into()));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push(Value::Tuple(items))?
            }
            b'Q' => {
                let pid = self.pop().map_err(err)?;
                let storage = persistent_storage(pid).map_err(err)?;
                self.push(Value::Storage(storage))?
            }
            b'R' => {
                let args = self.pop().map_err(err)?;
                let f = self.pop().map_err(err)?;
                let v = reduce(f, args).map_err(err)?;
                self.push(v)?
            }
            b's' => {
                let v = self.pop().map_err(err)?;
                let k = self.pop().map_err(err)?;
                self.dict_top().map_err(err)?.push((k, v));
            }
            b'u' => {
                let items = self.pop_mark().map_err(err)?;
                if items.len() % 2 != 0 {
                    return Err(err("SETITEMS with an odd count".into()));
                }
                let mut it = items.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                self.dict_top().map_err(err)?.extend(pairs);
            }
            // BUILD on the OrderedDict sets its `_metadata` (module versions): dropped.
            b'b' => {
                self.pop().map_err(err)?;
                if !matches!(self.stack.last(), Some(Value::Dict(_))) {
                    return Err(err("BUILD of something other than the state_dict".into()));
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or("the pickle is truncated")?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let end = rest.iter().take(256).position(|&b| b == b'\n').ok_or("a global name without its end")?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }
    fn push(&mut self, v: Value) -> Result<(), String> {
        if self.stack.len() >= MAX_STACK {
            return Err("the pickle's stack is too deep".into());
        }
        self.stack.push(v);
        Ok(())
    }
    fn pop(&mut self) -> Result<Value, String> {
        match self.stack.pop() {
            Some(Value::Mark) | None => Err("pop of an empty stack".into()),
            Some(v) => Ok(v),
        }
    }
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let m = self.stack.iter().rposition(|v| *v == Value::Mark).ok_or("no mark")?;
        let items = self.stack.split_off(m + 1);
        self.stack.pop();
        Ok(items)
    }
    fn put(&mut self, k: u32) -> Result<(), String> {
        let top = self.stack.last().ok_or("memoize of an empty stack")?.clone();
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&k) {
            return Err("too many memo entries".into());
        }
        self.memo.insert(k, top);
        Ok(())
    }
    fn get(&mut self, k: u32) -> Result<(), String> {
        let v = self.memo.get(&k).ok_or_else(|| format!("memo {k} was never set"))?.clone();
        self.push(v)
    }
    fn dict_top(&mut self) -> Result<&mut Vec<(Value, Value)>, String> {
        match self.stack.last_mut() {
            Some(Value::Dict(d)) => Ok(d),
            _ => Err("SETITEM on something other than a dict".into()),
        }
    }
}

/// `("storage", <Float|Long>Storage, key, location, numel)`.
fn persistent_storage(pid: Value) -> Result<StorageRef, String> {
    let Value::Tuple(items) = pid else { return Err("a persistent id that is not a tuple".into()) };
    match &items[..] {
        [Value::Str(tag), Value::Global(g), Value::Str(key), Value::Str(_location), Value::Int(numel)]
            if tag == "storage" =>
        {
            let dtype = match g {
                Global::FloatStorage => Dtype::F32,
                Global::LongStorage => Dtype::I64,
                _ => return Err("a storage of an unknown type".into()),
            };
            let numel = usize::try_from(*numel).map_err(|_| "a negative storage size")?;
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("a storage key {key:?}"));
            }
            Ok(StorageRef { key: key.clone(), dtype, numel })
        }
        _ => Err("a persistent id other than a tensor storage".into()),
    }
}

/// The two calls a state_dict makes: `OrderedDict()` and `_rebuild_tensor_v2(...)`.
fn reduce(f: Value, args: Value) -> Result<Value, String> {
    let Value::Tuple(args) = args else { return Err("call arguments that are not a tuple".into()) };
    match f {
        Value::Global(Global::OrderedDict) if args.is_empty() => Ok(Value::Dict(Vec::new())),
        Value::Global(Global::RebuildTensor) => {
            let [Value::Storage(storage), Value::Int(offset), Value::Tuple(size), Value::Tuple(stride), ..] = &args[..]
            else {
                return Err("_rebuild_tensor_v2 with unexpected arguments".into());
            };
            let dims = |t: &[Value]| -> Result<Vec<usize>, String> {
                t.iter()
                    .map(|v| match v {
                        Value::Int(i) if *i >= 0 => Ok(*i as usize),
                        _ => Err("a tensor size or stride that is not a non-negative int".to_string()),
                    })
                    .collect()
            };
            let offset = usize::try_from(*offset).map_err(|_| "a negative storage offset")?;
            let (shape, stride) = (dims(size)?, dims(stride)?);
            if shape.len() != stride.len() || shape.len() > 8 {
                return Err("a tensor whose size and stride differ in rank".into());
            }
            Ok(Value::Tensor(TensorRef { storage: storage.clone(), offset, shape, stride }))
        }
        _ => Err("a call other than OrderedDict() or _rebuild_tensor_v2".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `OrderedDict([("w", tensor of storage "0", offset 2, shape (2, 3), stride (3, 1))])` as
    /// `torch.save` pickles it (written out opcode by opcode, as pickletools shows them).
    fn one_tensor() -> Vec<u8> {
        let mut p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00wq\x02".to_vec();
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04");
        p.extend_from_slice(b"ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07K\x08tq\x08Q");
        p.extend_from_slice(b"K\x02K\x02K\x03\x86K\x03K\x01\x86\x89h\x00)Rtq\x09Rq\x0au.");
        p
    }

    #[test]
    fn reads_a_state_dict_of_one_tensor() {
        let t = state_dict(&one_tensor()).unwrap();
        assert_eq!(t.len(), 1);
        let (name, t) = &t[0];
        assert_eq!(name, "w");
        assert_eq!(t.storage, StorageRef { key: "0".into(), dtype: Dtype::F32, numel: 8 });
        assert_eq!((t.offset, t.shape.clone(), t.stride.clone()), (2, vec![2, 3], vec![3, 1]));
    }

    #[test]
    fn refuses_what_a_state_dict_does_not_use() {
        let good = one_tensor();
        for len in 0..good.len() {
            assert!(state_dict(&good[..len]).is_err(), "truncated at {len}");
        }
        let mut global = good.clone();
        let at = global.windows(5).position(|w| w == b"Float").unwrap();
        global[at..at + 5].copy_from_slice(b"Bytes"); // torch.BytesStorage
        assert!(state_dict(&global).unwrap_err().contains("refused global torch.BytesStorage"));
        let mut opcode = good.clone();
        opcode[2] = b'i'; // INST: builds arbitrary objects
        assert!(state_dict(&opcode).unwrap_err().contains("refused opcode 0x69"));
        assert!(state_dict(b"\x80\x02h\x05.").unwrap_err().contains("memo 5 was never set"));
        assert!(state_dict(b"\x80\x02K\x01.").unwrap_err().contains("not a dictionary"));
    }
}
