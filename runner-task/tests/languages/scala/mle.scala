object Main {
  def main(args: Array[String]): Unit = {
    val keep = scala.collection.mutable.ArrayBuffer[Array[Byte]]()
    while (true) keep += new Array[Byte](1 << 20)
  }
}
