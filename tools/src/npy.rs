//! A small, checked reader and writer for numpy `.npy` files.
//!
//! Only what tartan exchanges with numpy: little-endian `float32` arrays of any
//! rank (embeddings `[tokens, dim]`, queries `[n, query_len, dim]`) and integer
//! vectors (document lengths, `int32`/`int64`/`uint32`/`uint64`), C order.
//!
//! ```text
//! \x93NUMPY | major u8 | minor u8 | header_len (u16 LE in v1, u32 LE in v2/v3)
//! header: "{'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }" padded
//!         with spaces to a multiple of 64 bytes, ending in '\n'
//! data:   prod(shape) items, little endian
//! ```
//!
//! Reading checks the magic, the header, the dtype and that the file holds exactly
//! the bytes the shape promises, so a truncated or foreign file is a clear error.
//! Writing streams rows and patches the shape into a fixed-size header at the end,
//! so the number of rows need not be known up front; the file is written under a
//! temporary name and renamed into place by [`NpyWriter::finish`].

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Total bytes (preamble + header) of files we write: room for any shape.
const WRITTEN_HEADER_BYTES: usize = 128;

/// A dense array read from a `.npy` file, flattened in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray<T> {
    /// The array's shape.
    pub shape: Vec<usize>,
    /// The items, row-major.
    pub data: Vec<T>,
}

/// The element types tartan understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F32,
    F64,
    I32,
    I64,
    U32,
    U64,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Self> {
        // '|' (not applicable) and '=' (native, little endian here) are accepted for
        // completeness; numpy writes '<' for these types on little-endian machines.
        let body = descr.strip_prefix(['<', '=', '|']).unwrap_or(descr);
        Some(match body {
            "f4" => Dtype::F32,
            "f8" => Dtype::F64,
            "i4" => Dtype::I32,
            "i8" => Dtype::I64,
            "u4" => Dtype::U32,
            "u8" => Dtype::U64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
        }
    }
}

struct Header {
    dtype: Dtype,
    descr: String,
    shape: Vec<usize>,
    data_offset: u64,
}

fn read_header(reader: &mut impl Read, path: &Path) -> Result<Header> {
    let mut preamble = [0u8; 8];
    reader
        .read_exact(&mut preamble)
        .with_context(|| format!("{}: too short to be a .npy file", path.display()))?;
    ensure!(
        &preamble[..6] == MAGIC,
        "{}: not a .npy file (bad magic)",
        path.display()
    );
    // The preamble read so far is magic + version; the length field follows.
    let major = preamble[6];
    let prefix = if major == 1 { 10usize } else { 12 };
    let header_len = match major {
        1 => {
            let mut buf = [0u8; 2];
            reader.read_exact(&mut buf)?;
            u16::from_le_bytes(buf) as usize
        }
        2 | 3 => {
            let mut buf = [0u8; 4];
            reader.read_exact(&mut buf)?;
            u32::from_le_bytes(buf) as usize
        }
        _ => bail!("{}: unsupported .npy version {major}", path.display()),
    };
    ensure!(
        header_len <= 1 << 20,
        "{}: .npy header of {header_len} bytes is implausible",
        path.display()
    );
    let mut header = vec![0u8; header_len];
    reader
        .read_exact(&mut header)
        .with_context(|| format!("{}: truncated .npy header", path.display()))?;
    let header = String::from_utf8(header)
        .with_context(|| format!("{}: .npy header is not text", path.display()))?;
    let descr = dict_value(&header, "descr")
        .and_then(|v| {
            v.strip_prefix('\'')
                .and_then(|s| s.split('\'').next())
                .map(str::to_string)
        })
        .with_context(|| format!("{}: .npy header has no 'descr'", path.display()))?;
    let fortran = dict_value(&header, "fortran_order")
        .with_context(|| format!("{}: .npy header has no 'fortran_order'", path.display()))?;
    ensure!(
        fortran.starts_with("False"),
        "{}: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)",
        path.display()
    );
    let shape = dict_value(&header, "shape")
        .and_then(parse_shape)
        .with_context(|| format!("{}: .npy header has no readable 'shape'", path.display()))?;
    let dtype = Dtype::parse(&descr).with_context(|| {
        format!(
            "{}: unsupported dtype {descr:?} (expected little-endian float32 or an integer type)",
            path.display()
        )
    })?;
    ensure!(
        !descr.starts_with('>'),
        "{}: big-endian arrays are not supported",
        path.display()
    );
    Ok(Header {
        dtype,
        descr,
        shape,
        data_offset: (prefix + header_len) as u64,
    })
}

/// The text after `'key':` in a numpy header dict.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!("'{key}':");
    let start = header.find(&pattern)? + pattern.len();
    Some(header[start..].trim_start())
}

fn parse_shape(value: &str) -> Option<Vec<usize>> {
    let inner = value.strip_prefix('(')?;
    let inner = &inner[..inner.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect()
}

fn open_checked(path: &Path) -> Result<(BufReader<File>, Header, usize)> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    let header = read_header(&mut reader, path)?;
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .with_context(|| format!("{}: shape {:?} overflows", path.display(), header.shape))?;
    let expected = (count as u64)
        .checked_mul(header.dtype.size() as u64)
        .and_then(|b| b.checked_add(header.data_offset))
        .with_context(|| format!("{}: shape {:?} overflows", path.display(), header.shape))?;
    ensure!(
        file_len == expected,
        "{}: holds {file_len} bytes but shape {:?} of {} needs {expected} (truncated or corrupt)",
        path.display(),
        header.shape,
        header.descr
    );
    Ok((reader, header, count))
}

fn read_raw(reader: &mut impl Read, count: usize, size: usize, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; count * size];
    reader
        .read_exact(&mut bytes)
        .with_context(|| format!("{}: truncated data", path.display()))?;
    Ok(bytes)
}

/// Reads a float32 array (float64 is converted) of any rank.
pub fn read_f32(path: &Path) -> Result<NpyArray<f32>> {
    let (mut reader, header, count) = open_checked(path)?;
    let bytes = read_raw(&mut reader, count, header.dtype.size(), path)?;
    let data: Vec<f32> = match header.dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")) as f32)
            .collect(),
        _ => bail!(
            "{}: expected a float32 array, found dtype {}",
            path.display(),
            header.descr
        ),
    };
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        bail!("{}: item {i} is not a finite number", path.display());
    }
    Ok(NpyArray {
        shape: header.shape,
        data,
    })
}

/// Reads an integer array of any integer dtype (int32/int64/uint32/uint64) as i64.
pub fn read_i64(path: &Path) -> Result<NpyArray<i64>> {
    let (mut reader, header, count) = open_checked(path)?;
    let bytes = read_raw(&mut reader, count, header.dtype.size(), path)?;
    let data: Vec<i64> = match header.dtype {
        Dtype::I32 => bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect(),
        Dtype::U32 => bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect(),
        Dtype::I64 => bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8-byte chunk")))
            .collect(),
        Dtype::U64 => bytes
            .chunks_exact(8)
            .map(|c| {
                let v = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
                i64::try_from(v).unwrap_or(i64::MAX)
            })
            .collect(),
        _ => bail!(
            "{}: expected an integer array, found dtype {}",
            path.display(),
            header.descr
        ),
    };
    Ok(NpyArray {
        shape: header.shape,
        data,
    })
}

/// Element types [`NpyWriter`] can write.
pub trait NpyElement: Copy {
    /// The numpy `descr` string.
    const DESCR: &'static str;
    /// Appends the little-endian bytes of `self`.
    fn put(self, out: &mut Vec<u8>);
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for i64 {
    const DESCR: &'static str = "<i8";
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Streams rows of a C-order array into a `.npy` file; the leading dimension is
/// counted as rows are written and patched into the header by [`finish`](Self::finish).
pub struct NpyWriter<T: NpyElement> {
    path: PathBuf,
    tmp_path: PathBuf,
    out: BufWriter<File>,
    row_shape: Vec<usize>,
    row_len: usize,
    items: u64,
    scratch: Vec<u8>,
    _marker: std::marker::PhantomData<T>,
}

fn header_bytes(descr: &str, shape: &[usize]) -> Result<Vec<u8>> {
    let shape_text = match shape {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    let body_len = WRITTEN_HEADER_BYTES - 10;
    ensure!(
        dict.len() < body_len,
        "shape {shape:?} is too long for a .npy header"
    );
    let mut bytes = Vec::with_capacity(WRITTEN_HEADER_BYTES);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(body_len as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes.resize(WRITTEN_HEADER_BYTES - 1, b' ');
    bytes.push(b'\n');
    Ok(bytes)
}

impl<T: NpyElement> NpyWriter<T> {
    /// Creates a writer of rows shaped `row_shape` (empty for a vector).
    pub fn create(path: &Path, row_shape: &[usize]) -> Result<Self> {
        let file_name = path
            .file_name()
            .with_context(|| format!("{} is not a file path", path.display()))?;
        let tmp_path = path.with_file_name(format!(".{}.partial", file_name.to_string_lossy()));
        let file = File::create(&tmp_path)
            .with_context(|| format!("cannot create {}", tmp_path.display()))?;
        let mut out = BufWriter::new(file);
        let mut shape = vec![0];
        shape.extend_from_slice(row_shape);
        out.write_all(&header_bytes(T::DESCR, &shape)?)?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp_path,
            out,
            row_shape: row_shape.to_vec(),
            row_len: row_shape.iter().product(),
            items: 0,
            scratch: Vec::new(),
            _marker: std::marker::PhantomData,
        })
    }

    /// Appends whole rows (`data.len()` must be a multiple of the row length).
    pub fn write(&mut self, data: &[T]) -> Result<()> {
        ensure!(
            self.row_len == 0 || data.len() % self.row_len == 0,
            "{} items are not whole rows of {:?}",
            data.len(),
            self.row_shape
        );
        self.scratch.clear();
        for &x in data {
            x.put(&mut self.scratch);
        }
        self.out.write_all(&self.scratch)?;
        self.items += data.len() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        if self.row_len == 0 {
            0
        } else {
            self.items / self.row_len as u64
        }
    }

    /// Patches the final shape into the header and renames the file into place.
    pub fn finish(mut self) -> Result<()> {
        let mut shape = vec![self.rows() as usize];
        shape.extend_from_slice(&self.row_shape);
        self.out.flush()?;
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", self.tmp_path.display()))?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header_bytes(T::DESCR, &shape)?)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.tmp_path, &self.path)
            .with_context(|| format!("cannot rename into {}", self.path.display()))?;
        Ok(())
    }
}

/// Writes a whole array at once.
pub fn write<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) -> Result<()> {
    ensure!(
        shape.iter().product::<usize>() == data.len(),
        "shape {shape:?} does not match {} items",
        data.len()
    );
    let (first, rest) = shape
        .split_first()
        .context("a .npy array needs at least one dimension")?;
    let mut writer = NpyWriter::<T>::create(path, rest)?;
    writer.write(data)?;
    ensure!(writer.rows() as usize == *first || data.is_empty());
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_round_trip_3d() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.npy");
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        write(&path, &[2, 3, 4], &data).unwrap();
        let back = read_f32(&path).unwrap();
        assert_eq!(back.shape, vec![2, 3, 4]);
        assert_eq!(back.data, data);
        assert!(!dir.path().join(".q.npy.partial").exists());
    }

    #[test]
    fn i64_vector_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.npy");
        write(&path, &[3], &[5i64, 7, 9]).unwrap();
        let back = read_i64(&path).unwrap();
        assert_eq!(back.shape, vec![3]);
        assert_eq!(back.data, vec![5, 7, 9]);
    }

    #[test]
    fn streaming_writer_counts_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        let mut w = NpyWriter::<f32>::create(&path, &[2]).unwrap();
        w.write(&[1.0, 2.0]).unwrap();
        w.write(&[3.0, 4.0, 5.0, 6.0]).unwrap();
        assert!(w.write(&[1.0]).is_err());
        w.finish().unwrap();
        let back = read_f32(&path).unwrap();
        assert_eq!(back.shape, vec![3, 2]);
        assert_eq!(back.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn truncated_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.npy");
        write(&path, &[4, 2], &[0.0f32; 8]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = read_f32(&path).unwrap_err().to_string();
        assert!(err.contains("truncated or corrupt"), "{err}");
    }

    #[test]
    fn foreign_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        std::fs::write(&path, b"hello world, not numpy").unwrap();
        assert!(read_f32(&path)
            .unwrap_err()
            .to_string()
            .contains("bad magic"));
    }

    #[test]
    fn wrong_dtype_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.npy");
        write(&path, &[2], &[1i64, 2]).unwrap();
        assert!(read_f32(&path)
            .unwrap_err()
            .to_string()
            .contains("expected a float32"));
    }

    #[test]
    fn reads_numpy_written_header() {
        // Bytes as numpy 1.x/2.x writes them for np.array([[1, 2]], dtype='<i4').
        let dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }";
        let mut header = dict.as_bytes().to_vec();
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(b' ');
        }
        header.push(b'\n');
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&1i32.to_le_bytes());
        bytes.extend_from_slice(&2i32.to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.npy");
        std::fs::write(&path, bytes).unwrap();
        let back = read_i64(&path).unwrap();
        assert_eq!(back.shape, vec![1, 2]);
        assert_eq!(back.data, vec![1, 2]);
    }
}

#[cfg(test)]
#[path = "npy_fuzz.rs"]
mod fuzz;
